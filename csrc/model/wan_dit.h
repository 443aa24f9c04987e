// The Wan2.1 DiT in its causal form (Self Forcing / Causal Forcing's CausalWanModel): timesteps per
// latent frame, self-attention in the three modes of AttentionContext. Parameter names are those of
// Wan's state dict (patch_embedding.weight, blocks.0.self_attn.q.weight, ...; 825 tensors for the
// 1.3B preset), so Wan, Self Forcing and Causal Forcing weights load as they are.
//
// Videos are latents [B, C, F, H, W]; timesteps [B, F] (raw values in [0, 1000]); text contexts
// [B, Lt <= text_len, text_dim], zero-padded to text_len as Wan pads them. Every forward returns the
// flow-matching prediction (noise - x0) [B, out_dim, F, H, W].
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/nn/module.h>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layer_cache.h"
#include "model/layers.h"
#include "model/mlp.h"
#include "model/wan_block.h"

namespace arl2::model {

class WanDiT : public torch::nn::Module {
 public:
  // Validates `config`. With `options` on the meta device the model holds names and shapes and no
  // memory; otherwise parameters start as Wan initialises them (whose zero output head makes a fresh
  // model predict zeros, so load weights before use).
  explicit WanDiT(const ModelConfig& config, const at::TensorOptions& options = {});

  const ModelConfig& config() const {
    return config_;
  }
  const std::vector<std::shared_ptr<WanBlock>>& blocks() const {
    return blocks_;
  }

  // The whole clip at once, block-causally: frames_per_block must divide F.
  at::Tensor forward_block_causal(
      const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context, int64_t frames_per_block) const;

  // Teacher forcing over [clean | noisy] (both [B, C, F, H, W], at the same frame positions);
  // returns the prediction for the noisy clip.
  at::Tensor forward_teacher_forcing(
      const at::Tensor& noisy,
      const at::Tensor& noisy_timesteps,
      const at::Tensor& clean,
      const at::Tensor& clean_timesteps,
      const at::Tensor& context,
      int64_t frames_per_block) const;

  // One block x [B, C, Fb, H, W] against the caches (one per layer) of the blocks committed so far;
  // it starts at frame caches[0].frames_committed(). The caches are one video's, of one context: its
  // cross-attention keys and values are kept from the first call, and another context is refused. With write_cache, the
  // block is committed: softmax layers append its keys and values, hybrid layers advance their state (the pass on the
  // denoised block, at timestep 0 in Self Forcing).
  at::Tensor forward_cached(
      const at::Tensor& x,
      const at::Tensor& timesteps,
      const at::Tensor& context,
      std::vector<LayerCache>& caches,
      bool write_cache) const;
  // forward_cached with write_cache, without the prediction: the caches end as that call leaves them, but the
  // last layer only writes its cache (its output would feed nothing but the head) and the head does not run.
  // What committing a generated block needs.
  void commit_cached(
      const at::Tensor& x,
      const at::Tensor& timesteps,
      const at::Tensor& context,
      std::vector<LayerCache>& caches) const;

  // When on, forward_block_causal and forward_teacher_forcing keep only each block's inputs while
  // gradients are recorded and recompute its activations in the backward (block_checkpoint.h); the
  // result and the gradients are as without. Off by default.
  void set_activation_checkpointing(bool on) {
    activation_checkpointing_ = on;
  }

  // One empty cache per layer, of the layer's kind (softmax: a KV cache as `spec` says; hybrid: a
  // recurrent state), for latents of `height` x `width`, on the parameters' device.
  std::vector<LayerCache> make_caches(int64_t batch, int64_t height, int64_t width, const KVCacheSpec& spec) const;

 private:
  struct Tokens {
    at::Tensor x;                // [B, L, C]
    std::array<int64_t, 3> grid; // [frames, rows, cols] of patches
    at::Tensor e;                // [B, F, C] timestep embedding per frame (the head's modulation)
    at::Tensor e0;               // [B, F, 6, C] its projection (the blocks' modulation)
  };
  Tokens embed(const at::Tensor& x, const at::Tensor& timesteps, const char* x_name, const char* t_name) const;
  at::Tensor embed_text(const at::Tensor& context) const;
  at::Tensor run_blocks(
      at::Tensor x,
      const at::Tensor& e0,
      const at::Tensor& text,
      AttentionContext ctx,
      std::vector<LayerCache>* caches,
      size_t layers) const;
  // The kCached context of a block's tokens against `caches` (checked to be one per layer, bound to `context`).
  AttentionContext cached_context(
      const Tokens& tokens, const at::Tensor& context, std::vector<LayerCache>& caches, bool write_cache) const;
  at::Tensor head(const at::Tensor& x, const at::Tensor& e, const std::array<int64_t, 3>& grid) const;
  void init_wan_weights();

  ModelConfig config_;
  std::shared_ptr<torch::nn::Module> patch_embedding_; // Conv3d weight [C, in_dim, pt, ph, pw] and bias
  at::Tensor patch_weight_, patch_bias_;
  std::shared_ptr<Mlp> text_embedding_, time_embedding_;
  std::shared_ptr<Linear> time_projection_; // "time_projection.1", after a SiLU
  std::vector<std::shared_ptr<WanBlock>> blocks_;
  std::shared_ptr<Linear> head_linear_; // "head.head"
  at::Tensor head_modulation_;          // "head.modulation" [1, 2, C]: shift, scale
  bool activation_checkpointing_ = false;
};

} // namespace arl2::model
