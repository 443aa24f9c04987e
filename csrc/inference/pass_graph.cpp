// PassGraph (see pass_graph.h): at::cuda::CUDAGraph where the build has CUDA (ARL2_WITH_CUDA, this file's
// define alone); elsewhere available() is false and the generator never makes one.
#include "inference/pass_graph.h"

#include <mutex>
#include <optional>
#include <vector>

#include <c10/util/Exception.h>

#ifdef ARL2_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace arl2::inference {

#ifdef ARL2_WITH_CUDA

namespace {

// Capture streams handed back by ended PassGraphs, for the next ones. LibTorch keeps a cuBLAS workspace per
// (handle, stream) for the life of the process; a fresh pool stream for every generation would leave one
// more workspace behind each time. Generations one after another share a stream; concurrent ones each hold
// their own.
class CaptureStreams {
 public:
  static CaptureStreams& instance() {
    // Leaked: PassGraphs in static objects may end after this would have been destroyed.
    static auto* streams = new CaptureStreams();
    return *streams;
  }

  c10::cuda::CUDAStream acquire(c10::DeviceIndex device) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->device_index() == device) {
          const auto stream = *it;
          free_.erase(it);
          return stream;
        }
      }
    }
    return c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device);
  }

  void release(c10::cuda::CUDAStream stream) {
    const std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(stream);
  }

 private:
  std::mutex mutex_;
  std::vector<c10::cuda::CUDAStream> free_;
};

} // namespace

struct PassGraph::Impl {
  // Every capture runs on this one stream (captures need a stream other than the default one), warmed up
  // by one eager pass before the first: the libraries keep per-stream state (cuBLAS workspaces, per thread
  // and stream) that must exist before a capture on the stream, not be made inside it.
  std::optional<c10::cuda::CUDAStream> side;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  at::Tensor x, t, out; // the captured pass's input copies and output

  ~Impl() {
    if (side.has_value()) {
      CaptureStreams::instance().release(*side);
    }
  }
};

bool PassGraph::available() {
  return true;
}

void PassGraph::capture(const at::Tensor& x, const at::Tensor& t, const Pass& pass) {
  TORCH_CHECK(x.is_cuda() && t.is_cuda(), "PassGraph: a CUDA graph runs on CUDA tensors");
  reset(); // the old graph's memory goes before the new one takes its own
  const auto device = x.device().index();
  const auto current = c10::cuda::getCurrentCUDAStream(device);
  impl_->x = x.clone();
  impl_->t = t.clone();
  const bool warm_up = !impl_->side.has_value();
  if (warm_up) {
    impl_->side = CaptureStreams::instance().acquire(device);
  }
  at::cuda::CUDAEvent inputs_ready, captured;
  inputs_ready.record(current);
  inputs_ready.block(*impl_->side);
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
  {
    c10::cuda::CUDAStreamGuard on_side(*impl_->side);
    if (warm_up) {
      pass(impl_->x, impl_->t);
    }
    // Relaxed: the kernels' launchers query the device and set their shared-memory limits inside the pass;
    // this mode lets such calls through while the stream captures.
    graph->capture_begin({0, 0}, cudaStreamCaptureModeRelaxed);
    impl_->out = pass(impl_->x, impl_->t);
    graph->capture_end();
    captured.record(*impl_->side);
  }
  captured.block(current);
  impl_->graph = std::move(graph);
}

bool PassGraph::captured() const {
  return impl_->graph != nullptr;
}

at::Tensor PassGraph::replay(const at::Tensor& x, const at::Tensor& t) {
  TORCH_CHECK(captured(), "PassGraph: nothing captured to replay");
  TORCH_CHECK(
      x.sizes() == impl_->x.sizes() && t.sizes() == impl_->t.sizes(),
      "PassGraph: the inputs' shapes (",
      x.sizes(),
      ", ",
      t.sizes(),
      ") differ from the captured pass's (",
      impl_->x.sizes(),
      ", ",
      impl_->t.sizes(),
      ")");
  impl_->x.copy_(x);
  impl_->t.copy_(t);
  impl_->graph->replay();
  return impl_->out;
}

void PassGraph::reset() {
  impl_->graph.reset();
  impl_->out = at::Tensor();
}

#else

struct PassGraph::Impl {};

bool PassGraph::available() {
  return false;
}

void PassGraph::capture(const at::Tensor&, const at::Tensor&, const Pass&) {
  TORCH_CHECK(false, "PassGraph: CUDA graphs need a build with CUDA");
}

bool PassGraph::captured() const {
  return false;
}

at::Tensor PassGraph::replay(const at::Tensor&, const at::Tensor&) {
  TORCH_CHECK(false, "PassGraph: CUDA graphs need a build with CUDA");
}

void PassGraph::reset() {}

#endif

PassGraph::PassGraph() : impl_(std::make_unique<Impl>()) {}
PassGraph::~PassGraph() = default;
PassGraph::PassGraph(PassGraph&&) noexcept = default;
PassGraph& PassGraph::operator=(PassGraph&&) noexcept = default;

} // namespace arl2::inference
