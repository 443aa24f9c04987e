// One model pass captured as a CUDA graph and replayed: the generator's denoising passes of a block run the
// same kernels on the same buffers, only x_t and the timesteps change, so the pass is captured once (on a
// side stream, applied to copies of its inputs) and every pass copies its inputs into those copies and
// replays the graph, with no kernel launches from the host. The next block's frame positions, and so the
// kernels' arguments, differ: the generator captures again for each block, as soon as the block before it
// is committed, so that the capture's host work overlaps the device's work on that block.
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

  // Records pass(x, t), applied to copies of x and t, in place of any earlier capture. Host work only
  // (besides one eager warm-up pass before a graph's first capture): the device's queued work need not have
  // run, and x's values do not matter. pass must run on the device without waiting for it and read nothing
  // but x, t and buffers that outlive the capture.
  void capture(const at::Tensor& x, const at::Tensor& t, const Pass& pass);
  bool captured() const;
  // Copies x and t into the captured pass's inputs and replays it. The result is valid until the next
  // replay, capture or reset().
  at::Tensor replay(const at::Tensor& x, const at::Tensor& t);
  // Drops the graph and its memory.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace arl2::inference
