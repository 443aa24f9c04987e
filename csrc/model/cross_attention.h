// Wan's text cross-attention (WanT2VCrossAttention): queries from the video tokens, keys and values
// from the embedded text, over every text token (Wan passes no mask: zero-padded tokens count), no RoPE.
#pragma once

#include <cstdint>

#include <torch/nn/module.h>

#include "model/attention_parts.h"
#include "model/layer_cache.h"

namespace arl2::model {

class CrossAttention : public torch::nn::Module {
 public:
  CrossAttention(int64_t dim, int64_t num_heads, double eps, const at::TensorOptions& options);
  // x [B, L, C], context [B, Lt, C] -> [B, L, C]. With a cache and without autograd (generation), the
  // context's keys and values are computed by the first call and read from the cache by the others.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context, LayerCache* cache = nullptr) const;

  AttentionProjections parts;

 private:
  int64_t num_heads_;
};

} // namespace arl2::model
