// The memory a hybrid layer keeps of earlier blocks during block-by-block generation: one gated delta
// rule state [B, H, K, V] per batch item and head, in float32 (float64 for a float64 model), whatever
// the model's dtype. Its size does not grow with the video. Stored detached: no gradient flows across
// blocks through it, as through the softmax layers' KV cache; unless it keeps its graph (keep_graph), for
// training through a window of blocks.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace arl2::model {

class RecurrentState {
 public:
  // A zero state (the memory of no frames) in `state_dtype`, on `device`.
  RecurrentState(
      int64_t batch,
      int64_t heads,
      int64_t key_dim,
      int64_t value_dim,
      int64_t tokens_per_frame,
      at::ScalarType state_dtype,
      at::Device device);

  // [B, H, K, V]: the state after every committed block, the one the next block reads.
  const at::Tensor& state() const {
    return state_;
  }

  // Replaces the state by `next` (the state after a block of `frames` frames), detached unless the state
  // keeps its graph.
  void advance(const at::Tensor& next, int64_t frames);

  // Replaces the state by `state` (of this state's shape and dtype), the memory of `frames_committed` frames: a
  // saved state restored, or one moved to another frame position (inference/session.h).
  void restore(const at::Tensor& state, int64_t frames_committed);

  // A copy holding its own state tensor.
  RecurrentState clone() const;
  // From now on advance keeps the next state's autograd graph, so that a later block's loss reaches the
  // blocks that wrote the state (and through initial_state, the state before them).
  void keep_graph() {
    keeps_graph_ = true;
  }

  // Frames ever committed: the absolute index of the next block's first frame.
  int64_t frames_committed() const {
    return frames_committed_;
  }
  int64_t tokens_per_frame() const {
    return tokens_per_frame_;
  }
  int64_t bytes() const {
    return static_cast<int64_t>(state_.nbytes());
  }
  // The state is in use, whole, from the start.
  int64_t bytes_in_use() const {
    return bytes();
  }

 private:
  at::Tensor state_;
  int64_t tokens_per_frame_;
  int64_t frames_committed_ = 0;
  bool keeps_graph_ = false;
};

} // namespace arl2::model
