// One Wan DiT block (WanAttentionBlock) in its causal form: the 6-way modulation comes per frame, so
// frames at different noise levels share one pass. Self-attention sits behind SelfAttentionLayer
// so that a hybrid layer can take its place; cross-attention, FFN and modulation stay.
#pragma once

#include <memory>

#include <torch/nn/module.h>

#include "model/attention_context.h"
#include "model/config.h"
#include "model/cross_attention.h"
#include "model/layers.h"
#include "model/mlp.h"

namespace arl2::model {

class WanBlock : public torch::nn::Module {
 public:
  WanBlock(const ModelConfig& config, const at::TensorOptions& options);

  // x [B, L, C] holding F frames of L / F tokens; e0 [B, F, 6, C], the projected timestep embedding
  // of each frame; context [B, Lt, C], the embedded text.
  at::Tensor forward(
      const at::Tensor& x, const at::Tensor& e0, const at::Tensor& context, const AttentionContext& ctx) const;
  // Commits x's block to the self-attention's cache (SelfAttentionLayer::commit) without forming the block's
  // output: the cross-attention and the FFN do not run.
  void commit(const at::Tensor& x, const at::Tensor& e0, const AttentionContext& ctx) const;

  const std::shared_ptr<SelfAttentionLayer>& self_attention() const {
    return self_attn_;
  }
  // Puts `layer` in the self-attention slot (same name, "self_attn", in the state dict).
  void replace_self_attention(std::shared_ptr<SelfAttentionLayer> layer);
  const std::shared_ptr<Mlp>& ffn() const {
    return ffn_;
  }

  at::Tensor modulation; // [1, 6, C]: shift, scale, gate of self-attention; shift, scale, gate of the FFN

 private:
  // The per-frame modulation [B, F, 6, C] in x's dtype, and the self-attention's input made with it.
  at::Tensor modulation_of(const at::Tensor& x, const at::Tensor& e0) const;
  at::Tensor attention_input(const at::Tensor& x, const at::Tensor& e) const;

  double eps_;
  std::shared_ptr<LayerNorm> norm3_;
  std::shared_ptr<SelfAttentionLayer> self_attn_;
  std::shared_ptr<CrossAttention> cross_attn_;
  std::shared_ptr<Mlp> ffn_;
};

} // namespace arl2::model
