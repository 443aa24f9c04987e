// The teacher's self-attention (Wan's WanSelfAttention in its causal form): q, k, v projections
// with RMSNorm on q and k, 3D RoPE at absolute frame positions, softmax attention in the mode the
// context names (block-causal, teacher forcing, or one block against a KV cache), output projection.
#pragma once

#include <cstdint>

#include "model/attention_context.h"
#include "model/attention_parts.h"

namespace arl2::model {

class SoftmaxAttention : public SelfAttentionLayer {
 public:
  SoftmaxAttention(int64_t dim, int64_t num_heads, double eps, const at::TensorOptions& options);

  // x [B, L, C] -> [B, L, C]. L is grid's token count (twice that under teacher forcing, clean
  // half first); grid's frames are a whole number of blocks except when cached.
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx) override;
  // Appends x's rotated keys and values to the cache; no query, no attention.
  void commit(const at::Tensor& x, const AttentionContext& ctx) override;

  // A KV cache (preallocated or rolling, as `spec` says) in the parameters' dtype and device.
  LayerCache make_cache(int64_t batch, int64_t tokens_per_frame, const KVCacheSpec& spec) const override;

  int64_t num_heads() const {
    return num_heads_;
  }

  // Public so that a hybrid layer converted from this one can share the very same tensors.
  AttentionProjections parts;

 private:
  int64_t num_heads_;
};

} // namespace arl2::model
