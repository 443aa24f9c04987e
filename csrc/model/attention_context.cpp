// check_attention_context (see attention_context.h).
#include "model/attention_context.h"

#include <c10/util/Exception.h>

namespace arl2::model {

void check_attention_context(const at::Tensor& x, const AttentionContext& ctx, const char* layer) {
  TORCH_CHECK(x.dim() == 3, layer, ": x must be [B, L, C], got ", x.sizes());
  const auto& g = ctx.grid;
  TORCH_CHECK(
      g[0] > 0 && g[1] > 0 && g[2] > 0, layer, ": ctx.grid must be positive, got [", g[0], ", ", g[1], ", ", g[2], "]");
  const int64_t halves = ctx.mode == AttentionMode::kTeacherForcing ? 2 : 1;
  TORCH_CHECK(
      x.size(1) == halves * g[0] * g[1] * g[2],
      layer,
      ": x has ",
      x.size(1),
      " tokens but ctx.grid [",
      g[0],
      ", ",
      g[1],
      ", ",
      g[2],
      "] holds ",
      halves,
      " x ",
      g[0] * g[1] * g[2]);
  if (ctx.mode == AttentionMode::kCached) {
    TORCH_CHECK(ctx.cache != nullptr, layer, ": ctx.cache must be set in the cached mode");
    TORCH_CHECK(
        ctx.tokens_per_frame() == ctx.cache->tokens_per_frame(),
        layer,
        ": ctx.grid has ",
        ctx.tokens_per_frame(),
        " tokens per frame, the cache was made for ",
        ctx.cache->tokens_per_frame());
    TORCH_CHECK(
        ctx.frame_offset == ctx.cache->frames_committed(),
        layer,
        ": ctx.frame_offset (",
        ctx.frame_offset,
        ") must equal the frames committed to the cache (",
        ctx.cache->frames_committed(),
        "): blocks run in order, each committed once");
  } else {
    TORCH_CHECK(
        ctx.frames_per_block > 0 && g[0] % ctx.frames_per_block == 0,
        layer,
        ": ctx.frames_per_block (",
        ctx.frames_per_block,
        ") must divide the frames (",
        g[0],
        ")");
  }
}

void check_commit_context(const at::Tensor& x, const AttentionContext& ctx, const char* layer) {
  TORCH_CHECK(
      ctx.mode == AttentionMode::kCached && ctx.write_cache,
      layer,
      ": commit needs the cached mode with write_cache set");
  check_attention_context(x, ctx, layer);
}

} // namespace arl2::model
