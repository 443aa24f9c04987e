#include "inference/memory_estimate.h"

#include <cstdio>
#include <initializer_list>

#include <c10/util/Exception.h>

namespace arl2::inference {
namespace {

// The product of `factors`, refused where it overflows 64 bits: a request that large cannot fit anywhere.
int64_t bytes_of(std::initializer_list<int64_t> factors, const char* what) {
  int64_t product = 1;
  for (const int64_t f : factors) {
    TORCH_CHECK(
        !__builtin_mul_overflow(product, f, &product),
        "the memory estimate of the ",
        what,
        " overflows 64 bits: the request is far too large (fewer frames, a smaller latent or a KV window)");
  }
  return product;
}

} // namespace

MemoryEstimate estimate_generation_memory(
    const model::ModelConfig& config,
    int64_t hybrid_layers,
    int64_t parameter_count,
    const GenerationShape& shape,
    const KVCachePolicy& policy,
    int64_t elem_bytes) {
  TORCH_CHECK(
      hybrid_layers >= 0 && hybrid_layers <= config.num_layers,
      "hybrid layers (",
      hybrid_layers,
      ") must be between 0 and model.num_layers (",
      config.num_layers,
      ")");
  TORCH_CHECK(shape.batch > 0, "batch must be positive, got ", shape.batch);
  TORCH_CHECK(
      shape.frames_per_block > 0 && shape.latent_frames > 0 && shape.latent_frames % shape.frames_per_block == 0,
      "latent frames (",
      shape.latent_frames,
      ") must be a positive multiple of frames_per_block (",
      shape.frames_per_block,
      ")");
  TORCH_CHECK(
      shape.latent_height % config.patch[1] == 0 && shape.latent_width % config.patch[2] == 0,
      "the latent size ",
      shape.latent_height,
      " x ",
      shape.latent_width,
      " must be a multiple of the patch ",
      config.patch[1],
      " x ",
      config.patch[2]);
  TORCH_CHECK(policy.window_frames >= 0 && policy.sink_frames >= 0, "the KV window and sink must not be negative");
  TORCH_CHECK(
      policy.window_frames == 0 || policy.sink_frames + shape.frames_per_block <= policy.window_frames,
      "a KV window of ",
      policy.window_frames,
      " frames must hold its ",
      policy.sink_frames,
      " sink frames and one block of ",
      shape.frames_per_block);

  const int64_t cache_frames = policy.window_frames > 0 ? policy.window_frames : shape.latent_frames;
  const int64_t head_dim = config.head_dim();
  MemoryEstimate e;
  e.weight_bytes = bytes_of({parameter_count, elem_bytes}, "weights");
  e.kv_cache_bytes = bytes_of(
      {config.num_layers - hybrid_layers,
       2,
       shape.batch,
       cache_frames,
       shape.latent_height / config.patch[1],
       shape.latent_width / config.patch[2],
       config.dim,
       elem_bytes},
      "KV caches");
  e.state_bytes = bytes_of({hybrid_layers, shape.batch, config.num_heads, head_dim, head_dim, 4}, "states");
  e.prompt_bytes = bytes_of({config.num_layers, 2, shape.batch, config.text_len, config.dim, elem_bytes}, "prompt");
  int64_t total = 0;
  for (const int64_t part : {e.weight_bytes, e.kv_cache_bytes, e.state_bytes, e.prompt_bytes}) {
    TORCH_CHECK(
        !__builtin_add_overflow(total, part, &total),
        "the memory estimate's total overflows 64 bits: the request is far too large");
  }
  return e;
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double x = static_cast<double>(bytes);
  int u = 0;
  while (x >= 1000.0 && u < 4) {
    x /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(
      buf,
      sizeof(buf),
      u == 0    ? "%.0f %s"
      : x < 10  ? "%.2f %s"
      : x < 100 ? "%.1f %s"
                : "%.0f %s",
      x,
      units[u]);
  return buf;
}

std::string describe(const MemoryEstimate& e) {
  return "weights " + human_bytes(e.weight_bytes) + ", KV caches " + human_bytes(e.kv_cache_bytes) + ", states " +
         human_bytes(e.state_bytes) + ", prompt " + human_bytes(e.prompt_bytes) + ", total " +
         human_bytes(e.total_bytes());
}

} // namespace arl2::inference
