// The generation memory estimate against the numbers worked out by hand for Wan2.1-1.3B at 480 x 832
// (docs/design.md, "Attention modes and caches": 6.04 GB of self-attention KV in bf16 for 81 frames).
#include <string>

#include <c10/util/Exception.h>

#include "catch.h"
#include "inference/memory_estimate.h"

namespace arl2::test {
namespace {

using inference::estimate_generation_memory;
using inference::GenerationShape;
using inference::KVCachePolicy;

TEST_CASE("the 1.3B teacher's KV caches for 81 frames are 6.04 GB in bf16", "[memory_estimate]") {
  const model::ModelConfig wan;
  const auto e = estimate_generation_memory(wan, 0, 1'418'996'800, GenerationShape{}, KVCachePolicy{}, 2);
  CHECK(e.kv_cache_bytes == int64_t{2} * 32760 * 1536 * 2 * 30);
  CHECK(e.state_bytes == 0);
  CHECK(e.weight_bytes == int64_t{2} * 1'418'996'800);
  CHECK(e.prompt_bytes == int64_t{30} * 2 * 512 * 1536 * 2); // every layer's cross-attention keys and values
  CHECK(inference::describe(e) == "weights 2.84 GB, KV caches 6.04 GB, states 0 B, prompt 94.4 MB, total 8.97 GB");
  GenerationShape tiny_shape;
  tiny_shape.latent_frames = 6;
  const auto tiny = estimate_generation_memory(model::model_preset("tiny"), 2, 100, tiny_shape, KVCachePolicy{}, 4);
  CHECK(inference::describe(tiny) == "weights 400 B, KV caches 0 B, states 16.4 kB, prompt 8.19 kB, total 25.0 kB");
}

TEST_CASE("hybrid layers trade their cache for a fixed float32 state", "[memory_estimate]") {
  const model::ModelConfig wan;
  GenerationShape longer;
  longer.latent_frames = 252; // 1005 pixel frames
  const auto all = estimate_generation_memory(wan, 30, 0, longer, KVCachePolicy{}, 2);
  CHECK(all.kv_cache_bytes == 0);
  CHECK(all.state_bytes == int64_t{30} * 12 * 128 * 128 * 4); // 23.6 MB at any length
  const auto most = estimate_generation_memory(wan, 22, 0, longer, KVCachePolicy{}, 2);
  CHECK(most.kv_cache_bytes == int64_t{8} * 2 * 252 * 1560 * 1536 * 2);
  CHECK(most.state_bytes == int64_t{22} * 12 * 128 * 128 * 4);
}

TEST_CASE("a rolling window bounds the caches", "[memory_estimate]") {
  const model::ModelConfig wan;
  GenerationShape longer;
  longer.latent_frames = 252;
  const auto e = estimate_generation_memory(wan, 0, 0, longer, KVCachePolicy{24, 3}, 2);
  CHECK(e.kv_cache_bytes == int64_t{30} * 2 * 24 * 1560 * 1536 * 2);
}

TEST_CASE("shapes that do not fit are named", "[memory_estimate][errors]") {
  const model::ModelConfig wan;
  auto message = [&](int64_t hybrid, GenerationShape s, KVCachePolicy p) -> std::string {
    try {
      estimate_generation_memory(wan, hybrid, 0, s, p, 2);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  GenerationShape odd;
  odd.latent_frames = 20;
  CHECK(
      message(0, odd, {}).find("latent frames (20) must be a positive multiple of frames_per_block (3)") !=
      std::string::npos);
  CHECK(
      message(31, {}, {}).find("hybrid layers (31) must be between 0 and model.num_layers (30)") != std::string::npos);
  GenerationShape narrow;
  narrow.latent_width = 103;
  CHECK(message(0, narrow, {}).find("must be a multiple of the patch 2 x 2") != std::string::npos);
  CHECK(
      message(0, {}, {6, 4}).find("a KV window of 6 frames must hold its 4 sink frames and one block of 3") !=
      std::string::npos);
}

} // namespace
} // namespace arl2::test
