// The keys and values a softmax self-attention layer keeps of earlier blocks during block-by-block
// generation. Keys are stored after RoPE (absolute frame positions), values as projected, both
// detached: no gradient flows across blocks through the cache, as in Self Forcing; unless the cache keeps
// its graph (keep_graph), for training through a window of blocks.
#pragma once

#include <cstdint>
#include <utility>

#include <ATen/core/Tensor.h>

namespace arl2::model {

// The KV caches a model's softmax layers get for one video.
struct KVCacheSpec {
  int64_t frames = 0;      // the most frames held (preallocated), or the window counting the current block (rolling)
  int64_t sink_frames = 0; // rolling only: first frames never evicted
  bool rolling = false;
};

class KVCache {
 public:
  // Room for `max_frames` frames; appending past it is an error.
  static KVCache preallocated(
      int64_t batch,
      int64_t max_frames,
      int64_t tokens_per_frame,
      int64_t heads,
      int64_t head_dim,
      const at::TensorOptions& options);

  // A window of `window_frames` frames, counting the block being computed: the first `sink_frames`
  // committed frames stay for good, and the oldest of the others are evicted to make room, so a
  // block always attends to the sink, the most recent frames and itself (Self Forcing's rolling cache).
  static KVCache rolling(
      int64_t batch,
      int64_t window_frames,
      int64_t sink_frames,
      int64_t tokens_per_frame,
      int64_t heads,
      int64_t head_dim,
      const at::TensorOptions& options);

  // The keys and values [B, n, H, D] that a block of `new_tokens` tokens attends to besides itself.
  std::pair<at::Tensor, at::Tensor> visible(int64_t new_tokens) const;

  // The keys and values a block with keys and values k, v [B, n, H, D] attends to: the visible ones
  // followed by its own. Where the block fits after the committed tokens, it is staged in the slots
  // that follow them (uncommitted: append commits) and the result is a view of the cache, so the
  // attention reads the cache in place; only a full rolling window, whose visible tokens are not one
  // run of slots, and a cache that keeps its graph are joined by a copy. Gradients reach k and v, and the
  // committed blocks only when the cache keeps its graph.
  std::pair<at::Tensor, at::Tensor> with_block(const at::Tensor& k, const at::Tensor& v);

  // Commits a block's keys and values [B, n, H, D] (n a whole number of frames), evicting first
  // when rolling.
  void append(const at::Tensor& k, const at::Tensor& v);

  // The committed keys and values [B, tokens_held, H, D], views of the cache in the order attention reads them.
  std::pair<at::Tensor, at::Tensor> committed() const;
  // Replaces the cache's contents by committed keys and values [B, n, H, D] (n a whole number of frames that fits
  // the cache) of a video whose next block starts at frame `frames_committed`: a saved cache restored, or one moved
  // to another frame position (inference/session.h).
  void restore(const at::Tensor& k, const at::Tensor& v, int64_t frames_committed);

  // A copy holding its own buffers: writing one never changes the other.
  KVCache clone() const;
  // From now on appended blocks keep their autograd graph, so that a later block's loss reaches the blocks
  // that wrote the cache, and with_block joins a block by a copy: a block staged in the buffers would be
  // overwritten by the next write while autograd still holds it.
  void keep_graph() {
    keeps_graph_ = true;
  }

  // Frames ever committed: the absolute index of the next block's first frame.
  int64_t frames_committed() const {
    return frames_committed_;
  }
  int64_t tokens_held() const {
    return length_;
  }
  int64_t tokens_per_frame() const {
    return tokens_per_frame_;
  }
  // Bytes held, which do not depend on how many tokens are committed.
  int64_t bytes() const {
    return static_cast<int64_t>(k_.nbytes() + v_.nbytes());
  }
  // Of those, the bytes holding committed tokens: what a cache that grew with the video would hold.
  int64_t bytes_in_use() const {
    return bytes() / capacity() * length_;
  }

 private:
  KVCache(at::Tensor k, at::Tensor v, int64_t tokens_per_frame, int64_t sink_tokens, bool rolling);
  // Throws unless k and v are [B, n, H, D] blocks of this cache's B, H and D.
  void check_block(const at::Tensor& k, const at::Tensor& v) const;
  int64_t capacity() const {
    return k_.size(1);
  }

  at::Tensor k_, v_; // [B, capacity, H, D]; slots [0, length_) hold committed tokens in order
  int64_t tokens_per_frame_;
  int64_t sink_tokens_;
  bool rolling_;
  bool keeps_graph_ = false;
  int64_t length_ = 0;
  int64_t frames_committed_ = 0;
};

} // namespace arl2::model
