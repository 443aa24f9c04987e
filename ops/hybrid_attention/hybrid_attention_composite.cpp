// arl2::hybrid_attention as a composite of two ops (ops/specs/hybrid_attention.md): softmax attention
// inside each block through scaled_dot_product_attention, plus the gated memory read through
// arl2::_gdn_block_read_gated. Registered as CompositeImplicitAutograd, so every backend, autograd and fake
// tensors come from those two ops: on CUDA that is LibTorch's FlashAttention (or cuDNN / efficient)
// kernels, forward and backward, and the project's read kernels, whose epilogue adds the gated read to
// the softmax branch's output.
#include <cmath>

#include <ATen/ATen.h>
#include <torch/library.h>

#include "arl2/ops.h"

namespace arl2::detail {
namespace {

constexpr const char* kOp = "arl2::hybrid_attention";

void check_same_shape(const at::Tensor& t, const char* name, const at::Tensor& like, const char* like_name) {
  TORCH_CHECK(
      t.sizes() == like.sizes(),
      kOp,
      ": ",
      name,
      " must have ",
      like_name,
      "'s shape ",
      like.sizes(),
      ", got ",
      t.sizes());
}

// t's B, T, H (its first three sizes) must be q's.
void check_tokens_and_heads(const at::Tensor& t, const char* name, const char* layout, const at::Tensor& q) {
  TORCH_CHECK(
      t.sizes().slice(0, 3) == q.sizes().slice(0, 3),
      kOp,
      ": ",
      name,
      " must be ",
      layout,
      " with q's B, T, H ",
      q.sizes().slice(0, 3),
      ", got ",
      t.sizes());
}

void check_args(
    const at::Tensor& q,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& q_mem,
    const at::Tensor& states,
    const at::Tensor& gate,
    int64_t block_len) {
  TORCH_CHECK(q.dim() == 4, kOp, ": q must be [B, T, H, D], got ", q.sizes());
  TORCH_CHECK(
      k.dim() == 4 && v.dim() == 4 && q_mem.dim() == 4,
      kOp,
      ": k, v and q_mem must be [B, T, H, *], got ",
      k.sizes(),
      ", ",
      v.sizes(),
      " and ",
      q_mem.sizes());
  check_same_shape(k, "k", q, "q");
  check_tokens_and_heads(v, "v", "[B, T, H, V]", q);
  check_tokens_and_heads(q_mem, "q_mem", "[B, T, H, K]", q);
  TORCH_CHECK(
      gate.dim() == 3 && gate.sizes() == q.sizes().slice(0, 3),
      kOp,
      ": gate must be [B, T, H] = ",
      q.sizes().slice(0, 3),
      ", got ",
      gate.sizes());
  TORCH_CHECK(block_len > 0, kOp, ": block_len must be positive, got ", block_len);
  TORCH_CHECK(
      q.size(1) % block_len == 0, kOp, ": T (", q.size(1), ") must be a multiple of block_len (", block_len, ")");
  // states' rank, B, H, K and dtype are gdn_block_read's to check; the value width meets v here
  TORCH_CHECK(
      states.dim() == 5 && states.size(4) == v.size(3),
      kOp,
      ": states must be [B, T / block_len, H, K, V] with v's V (",
      v.size(3),
      "), got ",
      states.sizes());
  for (const auto& [t, name] : {std::pair{&k, "k"}, {&v, "v"}, {&q_mem, "q_mem"}, {&gate, "gate"}}) {
    TORCH_CHECK(
        t->scalar_type() == q.scalar_type(),
        kOp,
        ": ",
        name,
        " must have q's dtype ",
        q.scalar_type(),
        ", got ",
        t->scalar_type());
  }
  for (const auto& [t, name] :
       {std::pair{&k, "k"}, {&v, "v"}, {&q_mem, "q_mem"}, {&states, "states"}, {&gate, "gate"}}) {
    TORCH_CHECK(
        t->device() == q.device(), kOp, ": ", name, " must be on q's device ", q.device(), ", got ", t->device());
  }
}

at::Tensor hybrid_attention_composite(
    const at::Tensor& q,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& q_mem,
    const at::Tensor& states,
    const at::Tensor& gate,
    int64_t block_len,
    std::optional<double> scale,
    std::optional<double> mem_scale) {
  check_args(q, k, v, q_mem, states, gate, block_len);
  const int64_t batch = q.size(0), seqlen = q.size(1), heads = q.size(2);
  const int64_t blocks = seqlen / block_len;
  // [B, T, H, D] -> [B * NB, H, L, D] as a view: the layout SDPA's flash and cuDNN kernels take as is,
  // each block a batch entry, so attention is bidirectional inside a block and blind across blocks.
  auto per_block = [&](const at::Tensor& x) {
    return x.reshape({batch * blocks, block_len, heads, x.size(3)}).transpose(1, 2);
  };
  const at::Tensor intra = at::scaled_dot_product_attention(
                               per_block(q),
                               per_block(k),
                               per_block(v),
                               /*attn_mask=*/std::nullopt,
                               /*dropout_p=*/0.0,
                               /*is_causal=*/false,
                               scale)
                               .transpose(1, 2)
                               .reshape({batch, seqlen, heads, v.size(3)});
  const double read_scale = mem_scale.value_or(1.0 / std::sqrt(static_cast<double>(q_mem.size(3))));
  // intra + gate * memory: on CUDA in the read kernel's epilogue, accumulated in float32
  return gdn_block_read_gated(intra, gate, q_mem, states, block_len, read_scale);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CompositeImplicitAutograd, m) {
  m.impl("hybrid_attention", &hybrid_attention_composite);
}

} // namespace arl2::detail
