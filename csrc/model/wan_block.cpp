// WanBlock (see wan_block.h).
#include "model/wan_block.h"

#include <ATen/ATen.h>

#include "model/softmax_attention.h"

namespace arl2::model {
namespace {

// Per-frame affine modulation of x [B, L, C] by shift and scale [B, F, 1, C].
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  const auto framed = x.view({x.size(0), shift.size(1), -1, x.size(2)});
  return (framed * (1 + scale) + shift).view(x.sizes());
}

// y [B, L, C] scaled per frame by gate [B, F, 1, C].
at::Tensor gated(const at::Tensor& y, const at::Tensor& gate) {
  return (y.view({y.size(0), gate.size(1), -1, y.size(2)}) * gate).view(y.sizes());
}

} // namespace

WanBlock::WanBlock(const ModelConfig& c, const at::TensorOptions& options) {
  norm1_ = register_module("norm1", std::make_shared<LayerNorm>(c.dim, c.eps, false, options));
  self_attn_ = register_module("self_attn", std::make_shared<SoftmaxAttention>(c.dim, c.num_heads, c.eps, options));
  norm3_ = register_module("norm3", std::make_shared<LayerNorm>(c.dim, c.eps, true, options));
  cross_attn_ = register_module("cross_attn", std::make_shared<CrossAttention>(c.dim, c.num_heads, c.eps, options));
  norm2_ = register_module("norm2", std::make_shared<LayerNorm>(c.dim, c.eps, false, options));
  ffn_ = register_module("ffn", std::make_shared<Mlp>(c.dim, c.ffn_dim, c.dim, Activation::kGeluTanh, options));
  modulation = register_parameter("modulation", at::empty({1, 6, c.dim}, options));
}

void WanBlock::replace_self_attention(std::shared_ptr<SelfAttentionLayer> layer) {
  self_attn_ = replace_module("self_attn", std::move(layer));
}

at::Tensor WanBlock::forward(
    const at::Tensor& x, const at::Tensor& e0, const at::Tensor& context, const AttentionContext& ctx) const {
  const auto e = (modulation.unsqueeze(1) + e0).chunk(6, 2); // six [B, F, 1, C]
  auto h = x + gated(self_attn_->forward(modulate(norm1_->forward(x), e[0], e[1]), ctx), e[2]);
  h = h + cross_attn_->forward(norm3_->forward(h), context);
  return h + gated(ffn_->forward(modulate(norm2_->forward(h), e[3], e[4])), e[5]);
}

} // namespace arl2::model
