// HybridAttention (see hybrid_attention.h). The write runs through arl2::gdn_block_scan (one call for
// every block of a sequence), the intra branch and the gated read through arl2::hybrid_attention.
#include "model/hybrid_attention.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>

#include "arl2/ops.h"

namespace arl2::model {
namespace {

// fla's l2norm (the authors' choice), x / sqrt(|x|^2 + 1e-6) over the last dim D, as one arl2::rms_norm
// (float32 statistics, one rounding): rms_norm with eps 1e-6 / D and weight 1 / sqrt(D) is that exactly. The
// weight is rounded to x's dtype: for bfloat16 and D = 128, 1.1e-4 relative, below an element's own rounding.
at::Tensor l2_normalize(const at::Tensor& x) {
  const double dim = static_cast<double>(x.size(-1));
  return rms_norm(x, at::full({x.size(-1)}, 1.0 / std::sqrt(dim), x.options()), 1e-6 / dim);
}

// gdn_block_scan keeps its state in float32, or float64 for float64 inputs.
at::ScalarType state_dtype(at::ScalarType dtype) {
  return dtype == at::kDouble ? at::kDouble : at::kFloat;
}

// Per-head map: weight [H * D, D, 1] applied to x [B, L, H, D] (the authors' grouped 1x1 Conv1d).
at::Tensor apply_phi(const at::Tensor& weight, const at::Tensor& x) {
  const auto per_head = weight.view({x.size(2), x.size(3), x.size(3)}); // [H, out, in]
  return at::einsum("blhi,hoi->blho", {x, per_head});
}

// RoPE at the context's positions. Under teacher forcing x holds both halves, at the same
// positions: they are rotated as two batch items.
at::Tensor rotate(const at::Tensor& x, const AttentionContext& ctx) {
  const int64_t tokens = ctx.grid[0] * ctx.grid[1] * ctx.grid[2];
  const int64_t sequences = x.size(1) / tokens;
  const auto as_sequences = x.reshape({x.size(0) * sequences, tokens, x.size(2), x.size(3)});
  return rope3d(as_sequences, ctx.grid, ctx.frame_offset).view(x.sizes());
}

std::shared_ptr<Linear> add_head_projection(
    torch::nn::Module& owner, const char* name, int64_t dim, int64_t heads, const at::TensorOptions& options) {
  auto proj = owner.register_module(name, std::make_shared<Linear>(dim, heads, options, /*with_bias=*/false));
  c10::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(proj->weight, std::pow(2.0, -2.5));
  return proj;
}

at::Tensor add_phi(
    torch::nn::Module& owner, const char* name, int64_t heads, int64_t head_dim, const at::TensorOptions& o) {
  auto group = owner.register_module(name, std::make_shared<torch::nn::Module>());
  return group->register_parameter("weight", at::eye(head_dim, o).repeat({heads, 1}).unsqueeze(-1));
}

double rms(const at::Tensor& x) {
  return x.to(at::kDouble).square().mean().sqrt().item<double>();
}

} // namespace

HybridAttention::HybridAttention(const SoftmaxAttention& teacher)
    : parts(*this, teacher.parts),
      num_heads_(teacher.num_heads()),
      head_dim_(teacher.parts.q->weight.size(0) / teacher.num_heads()) {
  const auto options = teacher.parts.q->weight.options();
  const int64_t dim = num_heads_ * head_dim_, H = num_heads_;
  a_proj_ = add_head_projection(*this, "a_proj", dim, H, options);
  b_proj_ = add_head_projection(*this, "b_proj", dim, H, options);
  gate_proj_ = add_head_projection(*this, "gate_proj", dim, H, options);

  // Mamba2's decay parameterisation, drawn in float64 on the CPU and then placed like the teacher.
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  A_log_ = register_parameter("A_log", at::empty({H}, f64).uniform_(0.0, 16.0).log().to(options));
  const double dt_min = 1e-3, dt_max = 0.1;
  const auto dt =
      at::exp(at::rand({H}, f64) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min)).clamp_min(1e-4);
  dt_bias_ = register_parameter("dt_bias", (dt + at::log(-at::expm1(-dt))).to(options));

  phi_q_ = add_phi(*this, "phi_q", H, head_dim_, options);
  phi_k_ = add_phi(*this, "phi_k", H, head_dim_, options);
  phi_v_ = add_phi(*this, "phi_v", H, head_dim_, options);
}

void HybridAttention::add_lora(const LoraOptions& lora) {
  TORCH_CHECK(!has_lora(), "HybridAttention: LoRA was already added");
  const auto options = parts.q->weight.options();
  const int64_t dim = num_heads_ * head_dim_;
  lora_q_ = model::add_lora(*this, "lora_q", dim, dim, lora, options);
  lora_k_ = model::add_lora(*this, "lora_k", dim, dim, lora, options);
  lora_v_ = model::add_lora(*this, "lora_v", dim, dim, lora, options);
}

std::vector<at::Tensor> HybridAttention::memory_parameters() const {
  return {a_proj_->weight, b_proj_->weight, gate_proj_->weight, A_log_, dt_bias_, phi_q_, phi_k_, phi_v_};
}

std::vector<at::Tensor> HybridAttention::adapter_parameters() const {
  if (!has_lora()) {
    return {};
  }
  return {lora_q_->A, lora_q_->B, lora_k_->A, lora_k_->B, lora_v_->A, lora_v_->B};
}

LayerCache HybridAttention::make_cache(int64_t batch, int64_t tokens_per_frame, const KVCacheSpec& /*spec*/) const {
  const auto& w = parts.q->weight;
  return RecurrentState(
      batch, num_heads_, head_dim_, head_dim_, tokens_per_frame, state_dtype(w.scalar_type()), w.device());
}

HybridAttention::Projections HybridAttention::project(const at::Tensor& x, bool with_query) const {
  const int64_t B = x.size(0), L = x.size(1);
  Projections p;
  if (with_query) {
    p.q_proj = parts.q->forward(x);
    p.q = parts.norm_q->forward(p.q_proj).view({B, L, num_heads_, head_dim_});
  }
  p.k_proj = parts.k->forward(x);
  p.v_proj = parts.v->forward(x);
  p.k = parts.norm_k->forward(p.k_proj).view({B, L, num_heads_, head_dim_});
  p.v = p.v_proj.view({B, L, num_heads_, head_dim_});

  std::vector<at::Tensor> columns;
  if (has_lora()) {
    columns = {lora_q_->A, lora_k_->A, lora_v_->A};
  }
  for (const auto* proj : {&gate_proj_, &a_proj_, &b_proj_}) {
    columns.push_back((*proj)->weight.t());
  }
  // Zero columns up to a multiple of 8: rows of 16 bytes in bfloat16, without which cuBLAS takes slower kernels
  // for this GEMM and for the adapters' up-projections that read their columns.
  auto weights = at::cat(columns, 1);
  if (const int64_t pad = (8 - weights.size(1) % 8) % 8; pad > 0) {
    weights = at::constant_pad_nd(weights, {0, pad});
  }
  const auto y = at::matmul(x, weights);
  int64_t start = 0;
  const auto next = [&](int64_t width) {
    start += width;
    return y.narrow(-1, start - width, width);
  };
  if (has_lora()) {
    p.down_q = next(lora_q_->A.size(1));
    p.down_k = next(lora_k_->A.size(1));
    p.down_v = next(lora_v_->A.size(1));
  }
  p.gate = next(num_heads_);
  p.a = next(num_heads_);
  p.b = next(num_heads_);
  return p;
}

at::Tensor HybridAttention::memory_query(const Projections& p) const {
  if (!has_lora()) {
    return p.q;
  }
  return parts.norm_q->forward(lora_q_->add_up(p.q_proj, p.down_q)).view(p.q.sizes());
}

at::Tensor gdn_log_decay(const at::Tensor& a, const at::Tensor& A_log, const at::Tensor& dt_bias) {
  return -A_log.exp() * at::softplus(a + dt_bias);
}

HybridAttention::MemoryWrite HybridAttention::memory_write(
    const Projections& p, int64_t n, const AttentionContext& ctx) const {
  const auto first = [n](const at::Tensor& t) { return t.narrow(1, 0, n); };
  at::Tensor k_base = first(p.k), v_base = first(p.v);
  if (has_lora()) {
    k_base = parts.norm_k->forward(lora_k_->add_up(first(p.k_proj), first(p.down_k))).view(k_base.sizes());
    v_base = lora_v_->add_up(first(p.v_proj), first(p.down_v)).view(v_base.sizes());
  }
  const auto sd = state_dtype(p.a.scalar_type());
  MemoryWrite w;
  w.k = l2_normalize(rotate(apply_phi(phi_k_, k_base), ctx));
  w.v = apply_phi(phi_v_, v_base);
  w.g = gdn_log_decay(first(p.a).to(sd), A_log_.to(sd), dt_bias_.to(sd));
  w.beta = 2 * at::sigmoid(first(p.b).to(sd));
  return w;
}

void HybridAttention::write_state(const Projections& p, const AttentionContext& ctx) const {
  auto& memory = ctx.cache->recurrent_state("HybridAttention");
  const int64_t L = p.k.size(1);
  const auto w = memory_write(p, L, ctx);
  memory.advance(std::get<1>(gdn_block_scan(w.k, w.v, w.g, w.beta, L, memory.state())), ctx.grid[0]);
}

void HybridAttention::commit(const at::Tensor& x, const AttentionContext& ctx) {
  check_commit_context(x, ctx, "HybridAttention");
  write_state(project(x, /*with_query=*/false), ctx);
}

at::Tensor HybridAttention::forward(const at::Tensor& x, const AttentionContext& ctx) {
  check_attention_context(x, ctx, "HybridAttention");
  const int64_t L = x.size(1);
  const auto p = project(x, /*with_query=*/true);
  const auto q_m = l2_normalize(rotate(apply_phi(phi_q_, memory_query(p)), ctx));
  const auto gate = at::sigmoid(p.gate);

  at::Tensor states;
  int64_t block = ctx.block_tokens();
  switch (ctx.mode) {
    case AttentionMode::kBlockCausal: {
      const auto w = memory_write(p, L, ctx);
      states = std::get<0>(gdn_block_scan(w.k, w.v, w.g, w.beta, block));
      break;
    }
    case AttentionMode::kTeacherForcing: {
      // The clean half alone writes; the noisy half's blocks read the same states as the clean ones.
      const auto w = memory_write(p, L / 2, ctx);
      states = std::get<0>(gdn_block_scan(w.k, w.v, w.g, w.beta, block));
      states = at::cat({states, states}, 1);
      break;
    }
    case AttentionMode::kCached: {
      block = L;
      states = ctx.cache->recurrent_state("HybridAttention").state().unsqueeze(1); // before this block's write
      if (ctx.write_cache) {
        write_state(p, ctx);
      }
      break;
    }
  }
  const auto out = arl2::hybrid_attention(rotate(p.q, ctx), rotate(p.k, ctx), p.v, q_m, states, gate, block);
  if (record_diagnostics_) {
    record(out, q_m, states, gate, block);
  }
  return parts.o->forward(out.flatten(2));
}

void HybridAttention::record(
    const at::Tensor& out, const at::Tensor& q_m, const at::Tensor& states, const at::Tensor& gate, int64_t block) {
  c10::NoGradGuard no_grad;
  const auto gated_memory =
      gate.unsqueeze(-1) * gdn_block_read(q_m, states, block, 1.0 / std::sqrt(static_cast<double>(head_dim_)));
  const auto g = gate.to(at::kDouble);
  HybridDiagnostics d;
  d.intra_rms = rms(out - gated_memory);
  d.gated_memory_rms = rms(gated_memory);
  d.gate_mean = g.mean().item<double>();
  d.gate_saturation = ((g > 0.99) | (g < 0.01)).to(at::kDouble).mean().item<double>();
  diagnostics_ = d;
}

} // namespace arl2::model
