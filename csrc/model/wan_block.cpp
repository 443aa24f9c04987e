// WanBlock (see wan_block.h).
#include "model/wan_block.h"

#include <ATen/ATen.h>

#include "arl2/ops.h"
#include "model/softmax_attention.h"

namespace arl2::model {

WanBlock::WanBlock(const ModelConfig& c, const at::TensorOptions& options) : eps_(c.eps) {
  self_attn_ = register_module("self_attn", std::make_shared<SoftmaxAttention>(c.dim, c.num_heads, c.eps, options));
  norm3_ = register_module("norm3", std::make_shared<LayerNorm>(c.dim, c.eps, options));
  cross_attn_ = register_module("cross_attn", std::make_shared<CrossAttention>(c.dim, c.num_heads, c.eps, options));
  ffn_ = register_module("ffn", std::make_shared<Mlp>(c.dim, c.ffn_dim, c.dim, Activation::kGeluTanh, options));
  modulation = register_parameter("modulation", at::empty({1, 6, c.dim}, options));
}

void WanBlock::replace_self_attention(std::shared_ptr<SelfAttentionLayer> layer) {
  self_attn_ = replace_module("self_attn", std::move(layer));
}

at::Tensor WanBlock::modulation_of(const at::Tensor& x, const at::Tensor& e0) const {
  // Six [B, F, C] slices of one tensor, read in place by the fused ops: shift, scale, gate of
  // self-attention, then of the FFN. In x's dtype: under autocast with float32 weights (stage 0 in bfloat16)
  // the sum is float32 while x is not, and the fused ops take one dtype.
  return (modulation.unsqueeze(1) + e0).to(x.scalar_type());
}

at::Tensor WanBlock::attention_input(const at::Tensor& x, const at::Tensor& e) const {
  // Wan's norm1 (and norm2 below) are the unweighted norms inside layer_norm_modulate.
  return layer_norm_modulate(x, e.select(2, 0), e.select(2, 1), eps_);
}

at::Tensor WanBlock::forward(
    const at::Tensor& x, const at::Tensor& e0, const at::Tensor& context, const AttentionContext& ctx) const {
  const auto e = modulation_of(x, e0);
  const auto mod = [&](int64_t i) { return e.select(2, i); };
  auto h = gated_residual(x, self_attn_->forward(attention_input(x, e), ctx), mod(2));
  h = h + cross_attn_->forward(norm3_->forward(h), context, ctx.cache);
  return gated_residual(h, ffn_->forward(layer_norm_modulate(h, mod(3), mod(4), eps_)), mod(5));
}

void WanBlock::commit(const at::Tensor& x, const at::Tensor& e0, const AttentionContext& ctx) const {
  self_attn_->commit(attention_input(x, modulation_of(x, e0)), ctx);
}

} // namespace arl2::model
