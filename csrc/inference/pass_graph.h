// One model pass captured as a CUDA graph and replayed: the generator's denoising passes of a block run the
// same kernels on the same buffers, only x_t and the timesteps change, so the block's first pass is
// captured (on a side stream, applied to copies of its inputs) and every pass copies its inputs into those
// copies and replays the graph, with no kernel launches from the host. The next block's frame positions, and
// so the kernels' arguments, differ: reset() drops the graph and its private memory pool, and the block's
// first run captures again.
#pragma once

#include <functional>
#include <memory>

#include <ATen/core/Tensor.h>

namespace arl2::inference {

class PassGraph {
 public:
  using Pass = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t)>;

  // Whether this build can capture (CUDA).
  static bool available();

  PassGraph();
  ~PassGraph();
  PassGraph(PassGraph&&) noexcept;
  PassGraph& operator=(PassGraph&&) noexcept;

  // pass(x, t), captured by the first run after construction or reset(), replayed by every run. pass must
  // run on the device without waiting for it and read nothing but x, t and buffers that outlive the graph.
  // The result is valid until the next run or reset().
  at::Tensor run(const at::Tensor& x, const at::Tensor& t, const Pass& pass);
  // Drops the graph and its memory: the next run captures again.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace arl2::inference
