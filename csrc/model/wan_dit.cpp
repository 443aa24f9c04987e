// WanDiT (see wan_dit.h). The steps follow docs/design.md, "The Wan2.1 DiT".
#include "model/wan_dit.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>

#include "arl2/ops.h"
#include "model/block_checkpoint.h"

namespace arl2::model {
namespace {

// Wan's sinusoidal_embedding_1d, per value of t (any shape): [cos | sin] of t * 10000^(-j / half),
// formed in float64 because t reaches 1000 and float32 angles would be ~1e-4 rad off.
at::Tensor sinusoidal_embedding(const at::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  const auto t64 = t.to(at::kDouble).reshape({-1, 1});
  const auto freqs = at::pow(10000.0, -at::arange(half, t64.options()) / static_cast<double>(half));
  const auto angles = t64 * freqs;
  return at::cat({at::cos(angles), at::sin(angles)}, 1);
}

// A child module that only groups parameters or modules under a name of Wan's state dict.
std::shared_ptr<torch::nn::Module> add_group(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

} // namespace

WanDiT::WanDiT(const ModelConfig& config, const at::TensorOptions& options) : config_(config) {
  validate_model_config(config_);
  const auto& c = config_;
  patch_embedding_ = add_group(*this, "patch_embedding");
  patch_weight_ = patch_embedding_->register_parameter(
      "weight", at::empty({c.dim, c.in_dim, c.patch[0], c.patch[1], c.patch[2]}, options));
  patch_bias_ = patch_embedding_->register_parameter("bias", at::empty({c.dim}, options));
  text_embedding_ = register_module(
      "text_embedding", std::make_shared<Mlp>(c.text_dim, c.dim, c.dim, Activation::kGeluTanh, options));
  time_embedding_ =
      register_module("time_embedding", std::make_shared<Mlp>(c.freq_dim, c.dim, c.dim, Activation::kSilu, options));
  time_projection_ =
      add_group(*this, "time_projection")->register_module("1", std::make_shared<Linear>(c.dim, 6 * c.dim, options));
  const auto blocks = add_group(*this, "blocks");
  for (int64_t i = 0; i < c.num_layers; ++i) {
    blocks_.push_back(blocks->register_module(std::to_string(i), std::make_shared<WanBlock>(c, options)));
  }
  const auto head = add_group(*this, "head");
  const int64_t patch_volume = c.patch[0] * c.patch[1] * c.patch[2];
  head_linear_ = head->register_module("head", std::make_shared<Linear>(c.dim, patch_volume * c.out_dim, options));
  head_modulation_ = head->register_parameter("modulation", at::empty({1, 2, c.dim}, options));
  init_wan_weights();
}

void WanDiT::init_wan_weights() {
  c10::NoGradGuard no_grad;
  namespace init = torch::nn::init;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (const auto* linear = module->as<Linear>()) {
      init::xavier_uniform_(linear->weight);
      init::zeros_(linear->bias);
    }
  }
  // Xavier over the flattened kernel; the bias keeps Conv3d's default, uniform in +-1/sqrt(fan_in).
  init::xavier_uniform_(patch_weight_.view({config_.dim, -1}));
  const double fan_in = static_cast<double>(patch_weight_[0].numel());
  init::uniform_(patch_bias_, -1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in));
  for (const auto& mlp : {text_embedding_, time_embedding_}) {
    init::normal_(mlp->fc_in->weight, 0.0, 0.02);
    init::normal_(mlp->fc_out->weight, 0.0, 0.02);
  }
  init::zeros_(head_linear_->weight);
  const double modulation_std = 1.0 / std::sqrt(static_cast<double>(config_.dim));
  for (const auto& block : blocks_) {
    init::normal_(block->modulation, 0.0, modulation_std);
  }
  init::normal_(head_modulation_, 0.0, modulation_std);
}

WanDiT::Tokens WanDiT::embed(
    const at::Tensor& x, const at::Tensor& timesteps, const char* x_name, const char* t_name) const {
  const auto& c = config_;
  TORCH_CHECK(
      x.dim() == 5 && x.size(1) == c.in_dim,
      "WanDiT: ",
      x_name,
      " must be [B, ",
      c.in_dim,
      ", F, H, W], got ",
      x.sizes());
  TORCH_CHECK(
      x.size(2) % c.patch[0] == 0 && x.size(3) % c.patch[1] == 0 && x.size(4) % c.patch[2] == 0,
      "WanDiT: the frames, height and width of ",
      x_name,
      " ",
      x.sizes(),
      " must be multiples of the patch [",
      c.patch[0],
      ", ",
      c.patch[1],
      ", ",
      c.patch[2],
      "]");
  TORCH_CHECK(
      x.scalar_type() == patch_weight_.scalar_type(),
      "WanDiT: ",
      x_name,
      " is ",
      x.scalar_type(),
      " but the model is ",
      patch_weight_.scalar_type());
  Tokens out;
  out.grid = {x.size(2) / c.patch[0], x.size(3) / c.patch[1], x.size(4) / c.patch[2]};
  const int64_t B = x.size(0), F = out.grid[0];
  TORCH_CHECK(
      timesteps.dim() == 2 && timesteps.size(0) == B && timesteps.size(1) == F,
      "WanDiT: ",
      t_name,
      " must be [",
      B,
      ", ",
      F,
      "] (one timestep per latent frame), got ",
      timesteps.sizes());
  // [B, C, F, Hp, Wp] -> tokens [B, L, C] in frame-major raster order.
  out.x = at::conv3d(x, patch_weight_, patch_bias_, /*stride=*/c.patch).flatten(2).transpose(1, 2);
  const auto e =
      time_embedding_->forward(sinusoidal_embedding(timesteps, c.freq_dim).to(x.scalar_type()).to(x.device()));
  out.e0 = time_projection_->forward(at::silu(e)).view({B, F, 6, c.dim});
  out.e = e.view({B, F, c.dim});
  return out;
}

at::Tensor WanDiT::embed_text(const at::Tensor& context) const {
  const auto& c = config_;
  TORCH_CHECK(
      context.dim() == 3 && context.size(1) <= c.text_len && context.size(2) == c.text_dim,
      "WanDiT: context must be [B, Lt <= ",
      c.text_len,
      ", ",
      c.text_dim,
      "], got ",
      context.sizes());
  // Wan pads every prompt to text_len and attends to the padding too (as bias-only vectors).
  const auto padded = at::constant_pad_nd(context, {0, 0, 0, c.text_len - context.size(1)});
  return text_embedding_->forward(padded.to(patch_weight_.scalar_type()));
}

at::Tensor WanDiT::run_blocks(
    at::Tensor x,
    const at::Tensor& e0,
    const at::Tensor& text,
    AttentionContext ctx,
    std::vector<LayerCache>* caches,
    size_t layers) const {
  TORCH_CHECK(text.size(0) == x.size(0), "WanDiT: context has batch ", text.size(0), ", the video ", x.size(0));
  for (size_t i = 0; i < layers; ++i) {
    if (caches != nullptr) {
      ctx.cache = &(*caches)[i];
    }
    const bool checkpointed = activation_checkpointing_ && caches == nullptr && c10::GradMode::is_enabled();
    x = checkpointed ? checkpointed_block_forward(blocks_[i], x, e0, text, ctx) : blocks_[i]->forward(x, e0, text, ctx);
  }
  return x;
}

at::Tensor WanDiT::head(const at::Tensor& x, const at::Tensor& e, const std::array<int64_t, 3>& grid) const {
  const auto& c = config_;
  const int64_t B = x.size(0);
  // Wan's head.norm (unweighted) and modulation by shift and scale, slices [B, F, C] of mod.
  const auto mod = (head_modulation_.unsqueeze(1) + e.unsqueeze(2)).to(x.scalar_type()); // as in WanBlock
  const auto y = head_linear_->forward(layer_norm_modulate(x, mod.select(2, 0), mod.select(2, 1), c.eps));
  // Each token's outputs are ordered (pt, ph, pw, channel); put them back in place.
  return y.view({B, grid[0], grid[1], grid[2], c.patch[0], c.patch[1], c.patch[2], c.out_dim})
      .permute({0, 7, 1, 4, 2, 5, 3, 6})
      .reshape({B, c.out_dim, grid[0] * c.patch[0], grid[1] * c.patch[1], grid[2] * c.patch[2]});
}

at::Tensor WanDiT::forward_block_causal(
    const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context, int64_t frames_per_block) const {
  const auto tokens = embed(x, timesteps, "x", "timesteps");
  AttentionContext ctx;
  ctx.mode = AttentionMode::kBlockCausal;
  ctx.grid = tokens.grid;
  ctx.frames_per_block = frames_per_block;
  const auto y = run_blocks(tokens.x, tokens.e0, embed_text(context), ctx, nullptr, blocks_.size());
  return head(y, tokens.e, tokens.grid);
}

at::Tensor WanDiT::forward_teacher_forcing(
    const at::Tensor& noisy,
    const at::Tensor& noisy_timesteps,
    const at::Tensor& clean,
    const at::Tensor& clean_timesteps,
    const at::Tensor& context,
    int64_t frames_per_block) const {
  TORCH_CHECK(
      clean.sizes() == noisy.sizes(), "WanDiT: clean ", clean.sizes(), " must have the shape of noisy ", noisy.sizes());
  const auto n = embed(noisy, noisy_timesteps, "noisy", "noisy_timesteps");
  const auto c = embed(clean, clean_timesteps, "clean", "clean_timesteps");
  AttentionContext ctx;
  ctx.mode = AttentionMode::kTeacherForcing;
  ctx.grid = n.grid;
  ctx.frames_per_block = frames_per_block;
  const auto y =
      run_blocks(at::cat({c.x, n.x}, 1), at::cat({c.e0, n.e0}, 1), embed_text(context), ctx, nullptr, blocks_.size());
  const int64_t half = n.x.size(1);
  return head(y.narrow(1, half, half), n.e, n.grid);
}

AttentionContext WanDiT::cached_context(
    const Tokens& tokens, const at::Tensor& context, std::vector<LayerCache>& caches, bool write_cache) const {
  TORCH_CHECK(
      caches.size() == blocks_.size(),
      "WanDiT: caches holds ",
      caches.size(),
      " layers' caches, the model has ",
      blocks_.size(),
      " layers");
  caches.front().bind_context(context);
  AttentionContext ctx;
  ctx.mode = AttentionMode::kCached;
  ctx.grid = tokens.grid;
  ctx.frames_per_block = tokens.grid[0];
  ctx.frame_offset = caches.front().frames_committed();
  ctx.write_cache = write_cache;
  return ctx;
}

at::Tensor WanDiT::forward_cached(
    const at::Tensor& x,
    const at::Tensor& timesteps,
    const at::Tensor& context,
    std::vector<LayerCache>& caches,
    bool write_cache) const {
  const auto tokens = embed(x, timesteps, "x", "timesteps");
  const auto ctx = cached_context(tokens, context, caches, write_cache);
  const auto y = run_blocks(tokens.x, tokens.e0, embed_text(context), ctx, &caches, blocks_.size());
  return head(y, tokens.e, tokens.grid);
}

void WanDiT::commit_cached(
    const at::Tensor& x,
    const at::Tensor& timesteps,
    const at::Tensor& context,
    std::vector<LayerCache>& caches) const {
  const auto tokens = embed(x, timesteps, "x", "timesteps");
  auto ctx = cached_context(tokens, context, caches, /*write_cache=*/true);
  const auto y = run_blocks(tokens.x, tokens.e0, embed_text(context), ctx, &caches, blocks_.size() - 1);
  ctx.cache = &caches.back();
  blocks_.back()->commit(y, tokens.e0, ctx);
}

std::vector<LayerCache> WanDiT::make_caches(
    int64_t batch, int64_t height, int64_t width, const KVCacheSpec& spec) const {
  const auto& c = config_;
  TORCH_CHECK(
      height > 0 && width > 0 && height % c.patch[1] == 0 && width % c.patch[2] == 0,
      "WanDiT: the latent height (",
      height,
      ") and width (",
      width,
      ") must be positive multiples of the patch's (",
      c.patch[1],
      ", ",
      c.patch[2],
      ")");
  const int64_t tokens_per_frame = (height / c.patch[1]) * (width / c.patch[2]);
  std::vector<LayerCache> caches;
  for (const auto& block : blocks_) {
    caches.push_back(block->self_attention()->make_cache(batch, tokens_per_frame, spec));
  }
  return caches;
}

} // namespace arl2::model
