// SoftmaxAttention (see softmax_attention.h). Each mode runs one unmasked attention call per block
// over exactly the keys the block may see: no L x L mask is built, and the cached mode is the
// same computation as the others by construction.
#include "model/softmax_attention.h"

#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "arl2/ops.h"

namespace arl2::model {
namespace {

// Block b's queries attend to the keys of blocks 0..b; q, k, v [B, L, H, D], L a multiple of `block`.
at::Tensor block_causal(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t block) {
  std::vector<at::Tensor> out;
  for (int64_t start = 0; start < q.size(1); start += block) {
    const int64_t end = start + block;
    out.push_back(attend(q.narrow(1, start, block), k.narrow(1, 0, end), v.narrow(1, 0, end)));
  }
  return at::cat(out, 1);
}

// Noisy block b attends to clean blocks 0..b-1 and to itself.
at::Tensor noisy_after_clean(
    const at::Tensor& q_noisy,
    const at::Tensor& k_noisy,
    const at::Tensor& v_noisy,
    const at::Tensor& k_clean,
    const at::Tensor& v_clean,
    int64_t block) {
  std::vector<at::Tensor> out;
  for (int64_t start = 0; start < q_noisy.size(1); start += block) {
    const auto keys = at::cat({k_clean.narrow(1, 0, start), k_noisy.narrow(1, start, block)}, 1);
    const auto values = at::cat({v_clean.narrow(1, 0, start), v_noisy.narrow(1, start, block)}, 1);
    out.push_back(attend(q_noisy.narrow(1, start, block), keys, values));
  }
  return at::cat(out, 1);
}

} // namespace

SoftmaxAttention::SoftmaxAttention(int64_t dim, int64_t num_heads, double eps, const at::TensorOptions& options)
    : parts(*this, dim, eps, options), num_heads_(num_heads) {
  TORCH_CHECK(
      num_heads > 0 && dim % num_heads == 0,
      "SoftmaxAttention: dim (",
      dim,
      ") must be divisible by num_heads (",
      num_heads,
      ")");
}

at::Tensor SoftmaxAttention::forward(const at::Tensor& x, const AttentionContext& ctx) {
  check_attention_context(x, ctx, "SoftmaxAttention");
  const int64_t B = x.size(0), L = x.size(1);
  const int64_t H = num_heads_, D = x.size(2) / H;
  auto q = parts.norm_q->forward(parts.q->forward(x)).view({B, L, H, D});
  auto k = parts.norm_k->forward(parts.k->forward(x)).view({B, L, H, D});
  const auto v = parts.v->forward(x).view({B, L, H, D});

  const int64_t block = ctx.block_tokens();
  at::Tensor out;
  switch (ctx.mode) {
    case AttentionMode::kBlockCausal:
      q = rope3d(q, ctx.grid, ctx.frame_offset);
      k = rope3d(k, ctx.grid, ctx.frame_offset);
      out = block_causal(q, k, v, block);
      break;
    case AttentionMode::kTeacherForcing: {
      // Both halves sit at the same positions: rotate them as two batch items.
      const int64_t half = L / 2;
      q = rope3d(q.view({2 * B, half, H, D}), ctx.grid, ctx.frame_offset).view({B, L, H, D});
      k = rope3d(k.view({2 * B, half, H, D}), ctx.grid, ctx.frame_offset).view({B, L, H, D});
      const auto k_clean = k.narrow(1, 0, half), v_clean = v.narrow(1, 0, half);
      out = at::cat(
          {block_causal(q.narrow(1, 0, half), k_clean, v_clean, block),
           noisy_after_clean(
               q.narrow(1, half, half), k.narrow(1, half, half), v.narrow(1, half, half), k_clean, v_clean, block)},
          1);
      break;
    }
    case AttentionMode::kCached: {
      q = rope3d(q, ctx.grid, ctx.frame_offset);
      k = rope3d(k, ctx.grid, ctx.frame_offset);
      auto& cache = ctx.cache->kv_cache("SoftmaxAttention");
      const auto [keys, values] = cache.with_block(k, v);
      out = attend(q, keys, values);
      if (ctx.write_cache) {
        cache.append(k, v);
      }
      break;
    }
  }
  return parts.o->forward(out.flatten(2));
}

void SoftmaxAttention::commit(const at::Tensor& x, const AttentionContext& ctx) {
  check_commit_context(x, ctx, "SoftmaxAttention");
  const int64_t B = x.size(0), L = x.size(1);
  const int64_t H = num_heads_, D = x.size(2) / H;
  const auto k = rope3d(parts.norm_k->forward(parts.k->forward(x)).view({B, L, H, D}), ctx.grid, ctx.frame_offset);
  ctx.cache->kv_cache("SoftmaxAttention").append(k, parts.v->forward(x).view({B, L, H, D}));
}

LayerCache SoftmaxAttention::make_cache(int64_t batch, int64_t tokens_per_frame, const KVCacheSpec& spec) const {
  const auto& w = parts.k->weight;
  const int64_t head_dim = w.size(0) / num_heads_;
  return spec.rolling ? KVCache::rolling(
                            batch, spec.frames, spec.sink_frames, tokens_per_frame, num_heads_, head_dim, w.options())
                      : KVCache::preallocated(batch, spec.frames, tokens_per_frame, num_heads_, head_dim, w.options());
}

} // namespace arl2::model
