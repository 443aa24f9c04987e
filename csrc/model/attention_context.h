// What a self-attention layer needs to know besides its input: which of the method's three modes it
// runs in, where the tokens sit in the video, and (generating) its cache. Every self-attention
// variant (the teacher's softmax layer, the hybrid layer) takes the same context through the same
// interface, so one can replace the other in a DiT block.
#pragma once

#include <array>
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "model/kv_cache.h"
#include "model/layer_cache.h"

namespace arl2::model {

enum class AttentionMode {
  // One sequence of whole blocks: block i attends to blocks <= i.
  kBlockCausal,
  // Training input [clean | noisy], two sequences of `grid` each, at the same positions: clean
  // tokens are block-causal among themselves; noisy block i attends to clean blocks < i and to itself.
  kTeacherForcing,
  // Generation: the input is one block; it attends to the committed earlier blocks and to itself.
  kCached,
};

struct AttentionContext {
  AttentionMode mode = AttentionMode::kBlockCausal;
  // [frames, rows, cols] of patch tokens of one sequence (of each half under teacher forcing; of
  // the current block when cached), in frame-major raster order.
  std::array<int64_t, 3> grid = {0, 0, 0};
  int64_t frames_per_block = 1;
  // Absolute index of grid's first frame, for RoPE; when cached, the frames the cache has seen.
  int64_t frame_offset = 0;
  // kCached only: this layer's cache, and whether this call commits the block to it (the pass on the
  // denoised block at timestep 0) or only reads it (the denoising passes).
  LayerCache* cache = nullptr;
  bool write_cache = false;

  int64_t tokens_per_frame() const {
    return grid[1] * grid[2];
  }
  // Tokens per block; the whole input of one sequence when cached.
  int64_t block_tokens() const {
    return frames_per_block * tokens_per_frame();
  }
};

// Throws naming `layer` unless x [B, L, C] and ctx agree: L is grid's token count (twice that under
// teacher forcing); blocks divide the frames, or, when cached, the cache is set, made for this
// grid's frames, and has committed exactly the frames before ctx.frame_offset.
void check_attention_context(const at::Tensor& x, const AttentionContext& ctx, const char* layer);
// check_attention_context, and that ctx is kCached with write_cache set (what SelfAttentionLayer::commit takes).
void check_commit_context(const at::Tensor& x, const AttentionContext& ctx, const char* layer);

// The slot a DiT block's self-attention fills: x [B, L, C] -> [B, L, C].
class SelfAttentionLayer : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx) = 0;

  // Commits x's block to ctx.cache as forward does with ctx.write_cache, without forming the layer's output:
  // for a pass whose output nobody reads (the last layer's when a block is committed). ctx must be kCached with
  // write_cache set.
  virtual void commit(const at::Tensor& x, const AttentionContext& ctx) = 0;

  // An empty cache of this layer's kind for generating one video of `batch` items, frames of
  // `tokens_per_frame` tokens; `spec` sizes KV caches.
  virtual LayerCache make_cache(int64_t batch, int64_t tokens_per_frame, const KVCacheSpec& spec) const = 0;
};

} // namespace arl2::model
