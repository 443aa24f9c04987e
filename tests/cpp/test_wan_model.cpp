// Tests of the Wan DiT (csrc/model): the 1.3B preset's parameters against Wan's state dict (the table
// below is Wan's state dict, docs/design.md "The Wan2.1 DiT", written out independently of the model code), the
// tiny preset's output shapes, agreement of the attention modes (teacher forcing vs block by block
// with caches written by clean passes; block-causal vs a preallocated cache), the rolling cache, and
// errors that name the field or key.
#include <algorithm>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/mlp.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "test_util.h"

namespace arl2::test {
namespace {

using model::KVCache;
using model::KVCacheSpec;
using model::ModelConfig;
using model::WanDiT;

// Wan2.1-T2V-1.3B's 825 tensors: 15 outside the blocks, 27 in each of the 30 blocks.
io::ShapeMap wan_1_3b_state_dict() {
  const int64_t dim = 1536, ffn = 8960;
  io::ShapeMap m = {
      {"patch_embedding.weight", {dim, 16, 1, 2, 2}},
      {"patch_embedding.bias", {dim}},
      {"text_embedding.0.weight", {dim, 4096}},
      {"text_embedding.0.bias", {dim}},
      {"text_embedding.2.weight", {dim, dim}},
      {"text_embedding.2.bias", {dim}},
      {"time_embedding.0.weight", {dim, 256}},
      {"time_embedding.0.bias", {dim}},
      {"time_embedding.2.weight", {dim, dim}},
      {"time_embedding.2.bias", {dim}},
      {"time_projection.1.weight", {6 * dim, dim}},
      {"time_projection.1.bias", {6 * dim}},
      {"head.modulation", {1, 2, dim}},
      {"head.head.weight", {64, dim}},
      {"head.head.bias", {64}},
  };
  for (int n = 0; n < 30; ++n) {
    const std::string b = "blocks." + std::to_string(n) + ".";
    m[b + "modulation"] = {1, 6, dim};
    for (const std::string attn : {"self_attn.", "cross_attn."}) {
      for (const std::string proj : {"q.", "k.", "v.", "o."}) {
        m[b + attn + proj + "weight"] = {dim, dim};
        m[b + attn + proj + "bias"] = {dim};
      }
      m[b + attn + "norm_q.weight"] = {dim};
      m[b + attn + "norm_k.weight"] = {dim};
    }
    m[b + "norm3.weight"] = {dim};
    m[b + "norm3.bias"] = {dim};
    m[b + "ffn.0.weight"] = {ffn, dim};
    m[b + "ffn.0.bias"] = {ffn};
    m[b + "ffn.2.weight"] = {dim, ffn};
    m[b + "ffn.2.bias"] = {dim};
  }
  return m;
}

TEST_CASE("the 1.3B preset has Wan's 825 tensors, built without memory", "[model]") {
  const WanDiT m(model::model_preset("wan2.1-t2v-1.3b"), torch::TensorOptions().device(torch::kMeta));
  const auto expected = wan_1_3b_state_dict();
  REQUIRE(expected.size() == 825);
  const auto got = model::parameter_shapes(m);
  CHECK(got.size() == 825);
  for (const auto& [name, shape] : expected) {
    INFO(name);
    REQUIRE(got.count(name) == 1);
    CHECK(got.at(name) == shape);
  }
  int64_t total = 0;
  for (const auto& p : m.parameters()) {
    CHECK(p.is_meta());
    total += p.numel();
  }
  CHECK(total == 1418996800); // docs/design.md, "The Wan2.1 DiT"
}

TEST_CASE("tiny model outputs have the input's shape in every mode", "[model]") {
  const auto m = random_tiny(torch::kFloat32);
  const auto c = make_clip(torch::kFloat32);
  const auto y = m->forward_block_causal(c.noisy, c.noisy_t, c.context, 2);
  CHECK(y.sizes() == c.noisy.sizes());
  CHECK(torch::isfinite(y).all().item<bool>());
  CHECK(m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 3).sizes() == c.noisy.sizes());
  auto caches = m->make_caches(2, 4, 6, KVCacheSpec{6});
  CHECK(caches.size() == 2);
  const auto block = m->forward_cached(frames(c.noisy, 0, 2), c.noisy_t.narrow(1, 0, 2), c.context, caches, true);
  CHECK(block.sizes() == frames(c.noisy, 0, 2).sizes());
  CHECK(caches[0].frames_committed() == 2);
  CHECK(caches[1].as_kv_cache()->tokens_held() == 12);
}

TEST_CASE("teacher forcing equals block-by-block inference with caches written by clean passes", "[model]") {
  // Relative error bounds: float64 shows the two paths compute the same function; float32 that the
  // difference is rounding only.
  for (const auto [dtype, tol] : {std::pair{torch::kFloat64, 1e-12}, std::pair{torch::kFloat32, 1e-5}}) {
    INFO("dtype " << dtype);
    const auto m = random_tiny(dtype);
    const auto c = make_clip(dtype);
    const auto teacher = m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);

    auto caches = m->make_caches(2, 4, 6, KVCacheSpec{6});
    std::vector<torch::Tensor> blocks;
    for (int64_t f = 0; f < 6; f += 2) {
      // Two denoising passes read the cache (the second must see what the first saw), then the clean
      // block at timestep 0 writes it.
      for (int pass = 0; pass < 2; ++pass) {
        const auto y = m->forward_cached(frames(c.noisy, f, 2), c.noisy_t.narrow(1, f, 2), c.context, caches, false);
        if (pass == 1) {
          blocks.push_back(y);
        }
      }
      m->forward_cached(frames(c.clean, f, 2), c.clean_t.narrow(1, f, 2), c.context, caches, true);
    }
    const double err = rel_err(torch::cat(blocks, 2), teacher);
    INFO("relative error " << err);
    CHECK(err < tol);
    // Not vacuous: without the clean context the noisy prediction changes.
    CHECK(rel_err(m->forward_block_causal(c.noisy, c.noisy_t, c.context, 2), teacher) > 1e-2);
  }
}

TEST_CASE("a block-causal pass equals block by block with a preallocated cache", "[model]") {
  for (const auto [dtype, tol] : {std::pair{torch::kFloat64, 1e-12}, std::pair{torch::kFloat32, 1e-5}}) {
    INFO("dtype " << dtype);
    const auto m = random_tiny(dtype);
    const auto c = make_clip(dtype);
    const auto t = torch::rand({2, 6}) * 1000; // per frame, varying inside blocks too
    const auto whole = m->forward_block_causal(c.noisy, t, c.context, 3);

    // Room for more frames than used: unused slots must not be attended to.
    auto caches = m->make_caches(2, 4, 6, KVCacheSpec{9});
    std::vector<torch::Tensor> blocks;
    for (int64_t f = 0; f < 6; f += 3) {
      blocks.push_back(m->forward_cached(frames(c.noisy, f, 3), t.narrow(1, f, 3), c.context, caches, true));
    }
    const double err = rel_err(torch::cat(blocks, 2), whole);
    INFO("relative error " << err);
    CHECK(err < tol);

    // A rolling cache whose window never fills is the same computation.
    auto rolling = m->make_caches(2, 4, 6, KVCacheSpec{6, 1, true});
    std::vector<torch::Tensor> rolled;
    for (int64_t f = 0; f < 6; f += 3) {
      rolled.push_back(m->forward_cached(frames(c.noisy, f, 3), t.narrow(1, f, 3), c.context, rolling, true));
    }
    CHECK(rel_err(torch::cat(rolled, 2), whole) < tol);
  }
}

TEST_CASE("gradients reach every parameter, and none cross blocks through the cache", "[model]") {
  const auto m = random_tiny(torch::kFloat32);
  const auto c = make_clip(torch::kFloat32);
  m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2).square().mean().backward();
  for (const auto& p : m->named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().norm().item<double>() > 0);
  }

  // The cache holds detached keys and values, as Self Forcing's does: a later block's loss does not
  // reach the block that wrote it.
  auto caches = m->make_caches(2, 4, 6, KVCacheSpec{6});
  const auto clean0 = frames(c.clean, 0, 2).clone().requires_grad_();
  m->forward_cached(clean0, c.clean_t.narrow(1, 0, 2), c.context, caches, true);
  const auto noisy1 = frames(c.noisy, 2, 2).clone().requires_grad_();
  m->forward_cached(noisy1, c.noisy_t.narrow(1, 2, 2), c.context, caches, false).sum().backward();
  CHECK(noisy1.grad().defined());
  CHECK_FALSE(clean0.grad().defined());
}

TEST_CASE("a rolling cache keeps the sink frames and the most recent ones", "[model]") {
  // Frames of 2 tokens whose keys hold their frame index; window 5 frames with 1 sink frame; blocks
  // of 2 frames.
  auto cache = KVCache::rolling(1, 5, 1, 2, 1, 1, torch::dtype(torch::kFloat64));
  const auto block = [](int64_t first) {
    return torch::arange(first, first + 2, torch::kFloat64).repeat_interleave(2).view({1, 4, 1, 1});
  };
  const auto visible_frames = [&](int64_t new_tokens) {
    const auto k = cache.visible(new_tokens).first.view({-1});
    return std::vector<double>(k.data_ptr<double>(), k.data_ptr<double>() + k.numel());
  };
  CHECK(visible_frames(4).empty());
  cache.append(block(0), block(0));
  CHECK(visible_frames(4) == std::vector<double>{0, 0, 1, 1});
  cache.append(block(2), block(2));
  // 4 committed frames + a 2-frame block exceed the window of 5: frame 1 (not a sink) drops out.
  CHECK(visible_frames(4) == std::vector<double>{0, 0, 2, 2, 3, 3});
  cache.append(block(4), block(4));
  CHECK(visible_frames(4) == std::vector<double>{0, 0, 4, 4, 5, 5});
  CHECK(cache.frames_committed() == 6);
  CHECK(cache.tokens_held() == 10);
  cache.append(block(6), block(6));
  CHECK(visible_frames(4) == std::vector<double>{0, 0, 6, 6, 7, 7});
  CHECK(contains(error_of([&] { cache.visible(10); }), "does not fit the rolling window"));

  auto full = KVCache::preallocated(1, 3, 2, 1, 1, torch::dtype(torch::kFloat64));
  full.append(block(0), block(0));
  CHECK(contains(error_of([&] { full.append(block(2), block(2)); }), "exceeds the cache's 6 tokens"));
}

TEST_CASE("a block attends to the cache in place, with its own keys staged after the committed ones", "[model]") {
  auto cache = KVCache::preallocated(1, 4, 2, 1, 1, torch::dtype(torch::kFloat64));
  const auto committed = torch::arange(4, torch::kFloat64).view({1, 4, 1, 1});
  cache.append(committed, committed);
  const auto k = torch::randn({1, 4, 1, 1}, torch::kFloat64).requires_grad_();
  const auto [keys, values] = cache.with_block(k, 2 * k);
  // A view of the cache's storage, not a copy: the same memory as the committed keys.
  CHECK(keys.data_ptr() == cache.visible(0).first.data_ptr());
  CHECK(torch::equal(keys, torch::cat({committed, k}, 1)));
  CHECK(torch::equal(values, torch::cat({committed, 2 * k}, 1)));
  CHECK(torch::equal(cache.visible(0).first, committed)); // staging commits nothing
  CHECK(cache.tokens_held() == 4);
  const auto w = torch::randn({1, 8, 1, 1}, torch::kFloat64);
  const auto grad = torch::autograd::grad({((keys + values) * w).sum()}, {k})[0];
  CHECK(torch::allclose(grad, 3 * w.narrow(1, 4, 4)));
  CHECK(contains(error_of([&] { cache.with_block(k.view({1, 4, 1}), k.view({1, 4, 1})); }), "KVCache: k must be"));
}

TEST_CASE("a video's caches keep its prompt's cross-attention and refuse another prompt", "[model]") {
  const auto m = random_tiny(torch::kFloat64);
  const auto c = make_clip(torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto caches = m->make_caches(2, 4, 6, model::KVCacheSpec{6});
  const auto x = frames(c.noisy, 0, 2), t = c.noisy_t.narrow(1, 0, 2);
  const auto first = m->forward_cached(x, t, c.context, caches, false);
  CHECK(caches.front().text_kv().has_value());
  // the same values in a new tensor are the same prompt, and the kept keys and values give the same output
  CHECK(torch::equal(m->forward_cached(x, t, c.context.clone(), caches, false), first));
  auto fresh = m->make_caches(2, 4, 6, model::KVCacheSpec{6});
  CHECK(torch::equal(m->forward_cached(x, t, c.context, fresh, false), first));
  CHECK(contains(
      error_of([&] { m->forward_cached(x, t, c.context + 1, caches, false); }),
      "context differs from the one these caches were first used with"));
}

TEST_CASE("weights round-trip through safetensors, with model. prefixes", "[model]") {
  TempDir dir;
  const auto a = random_tiny(torch::kFloat32);
  const auto path = dir.file("tiny.safetensors");
  model::save_weights(*a, path);
  WanDiT b(model::model_preset("tiny"));
  model::load_weights(b, path);
  const auto c = make_clip(torch::kFloat32);
  CHECK(torch::equal(
      a->forward_block_causal(c.noisy, c.noisy_t, c.context, 2),
      b.forward_block_causal(c.noisy, c.noisy_t, c.context, 2)));

  // Self Forcing checkpoints name the same tensors model.<name>, stored in bfloat16.
  std::vector<std::pair<std::string, torch::Tensor>> prefixed;
  for (const auto& p : a->named_parameters()) {
    prefixed.emplace_back("model." + p.key(), p.value().to(torch::kBFloat16));
  }
  const auto prefixed_path = dir.file("prefixed.safetensors");
  io::save_safetensors(prefixed_path, prefixed);
  model::load_weights(b, prefixed_path);
  CHECK(torch::equal(
      b.named_parameters()["head.head.weight"],
      a->named_parameters()["head.head.weight"].to(torch::kBFloat16).to(torch::kFloat32)));
}

TEST_CASE("bad configs, weights and inputs get errors naming the field or key", "[model][errors]") {
  SECTION("config") {
    ModelConfig c = model::model_preset("tiny");
    c.num_heads = 3;
    CHECK(contains(error_of([&] { WanDiT m(c); }), "model.dim (64) must be divisible by model.num_heads (3)"));
    c = model::model_preset("tiny");
    c.dim = 66;
    c.num_heads = 6; // head dim 11
    CHECK(contains(error_of([&] { model::validate_model_config(c); }), "model.dim / model.num_heads (11)"));
    c = model::model_preset("tiny");
    c.ffn_dim = 0;
    CHECK(contains(error_of([&] { model::validate_model_config(c); }), "model.ffn_dim (0) must be positive"));
    CHECK(contains(error_of([] { model::model_preset("wan-14b"); }), "'wan-14b' is unknown"));
  }

  SECTION("weights") {
    TempDir dir;
    const auto m = random_tiny(torch::kFloat32);
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& p : m->named_parameters()) {
      tensors.emplace_back(p.key(), p.value());
    }
    const auto write = [&](const std::string& name, std::vector<std::pair<std::string, torch::Tensor>> t) {
      const auto path = dir.file(name);
      io::save_safetensors(path, t);
      return path;
    };
    WanDiT target(model::model_preset("tiny"));

    auto missing = tensors;
    missing.erase(
        std::find_if(missing.begin(), missing.end(), [](const auto& t) { return t.first == "blocks.1.ffn.2.bias"; }));
    const auto missing_error = error_of([&] { model::load_weights(target, write("missing.safetensors", missing)); });
    CHECK(contains(missing_error, "missing"));
    CHECK(contains(missing_error, "blocks.1.ffn.2.bias"));

    auto extra = tensors;
    extra.emplace_back("blocks.0.self_attn.lora_a", torch::zeros({2}));
    CHECK(contains(
        error_of([&] { model::load_weights(target, write("extra.safetensors", extra)); }),
        "blocks.0.self_attn.lora_a"));

    auto mis_shaped = tensors;
    for (auto& [name, t] : mis_shaped) {
      if (name == "blocks.0.modulation") {
        t = torch::zeros({1, 5, 64});
      }
    }
    CHECK(contains(
        error_of([&] { model::load_weights(target, write("shape.safetensors", mis_shaped)); }),
        "blocks.0.modulation: expected [1, 6, 64], got [1, 5, 64]"));

    auto integer = tensors;
    integer.front().second = integer.front().second.to(torch::kInt32);
    CHECK(contains(
        error_of([&] { model::load_weights(target, write("int.safetensors", integer)); }),
        "'" + integer.front().first + "' is Int"));

    WanDiT on_meta(model::model_preset("tiny"), torch::TensorOptions().device(torch::kMeta));
    CHECK(contains(
        error_of([&] { model::load_weights(on_meta, write("ok.safetensors", tensors)); }), "on the meta device"));
  }

  SECTION("inputs") {
    const auto m = random_tiny(torch::kFloat32);
    const auto c = make_clip(torch::kFloat32);
    CHECK(contains(
        error_of([&] { m->forward_block_causal(c.noisy, c.noisy_t.narrow(1, 0, 4), c.context, 2); }),
        "timesteps must be [2, 6] (one timestep per latent frame)"));
    CHECK(contains(
        error_of([&] { m->forward_block_causal(c.noisy, c.noisy_t, c.context, 4); }),
        "ctx.frames_per_block (4) must divide the frames (6)"));
    CHECK(contains(
        error_of([&] { m->forward_block_causal(c.noisy.narrow(1, 0, 4), c.noisy_t, c.context, 2); }),
        "x must be [B, 16, F, H, W]"));
    CHECK(contains(
        error_of([&] {
          m->forward_block_causal(c.noisy, c.noisy_t, torch::zeros({2, 9, 32}), 2);
        }),
        "context must be [B, Lt <= 8, 32]"));
    CHECK(contains(
        error_of([&] { m->forward_block_causal(c.noisy.to(torch::kFloat64), c.noisy_t, c.context, 2); }),
        "x is Double but the model is Float"));
    CHECK(contains(
        error_of(
            [&] { m->forward_teacher_forcing(c.noisy, c.noisy_t, frames(c.clean, 0, 4), c.clean_t, c.context, 2); }),
        "must have the shape of noisy"));
    auto caches = m->make_caches(2, 4, 6, KVCacheSpec{2});
    m->forward_cached(frames(c.clean, 0, 2), c.clean_t.narrow(1, 0, 2), c.context, caches, true);
    CHECK(contains(
        error_of(
            [&] { m->forward_cached(frames(c.noisy, 2, 2), c.noisy_t.narrow(1, 2, 2), c.context, caches, false); }),
        "exceeds the cache's 12 tokens"));
    auto wrong_grid = m->make_caches(2, 4, 4, KVCacheSpec{4});
    CHECK(contains(
        error_of(
            [&] { m->forward_cached(frames(c.noisy, 0, 2), c.noisy_t.narrow(1, 0, 2), c.context, wrong_grid, false); }),
        "the cache was made for 4"));
  }
}

#ifdef ARL2_WITH_CUDA
TEST_CASE("the FFN's GELU fused into its first GEMM on CUDA equals the float64 reference", "[model][cuda]") {
  REQUIRE(torch::cuda::is_available());
  torch::manual_seed(5);
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    INFO(dtype);
    model::Mlp mlp(64, 224, 48, model::Activation::kGeluTanh, cuda.dtype(dtype));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : mlp.parameters()) {
        p.normal_(0.0, 0.2);
      }
    }
    const auto x = torch::randn({2, 37, 64}, cuda.dtype(dtype));
    const auto d = [](const torch::Tensor& t) { return t.to(torch::kCPU, torch::kFloat64); };
    const auto hidden = torch::gelu(torch::linear(d(x), d(mlp.fc_in->weight), d(mlp.fc_in->bias)), "tanh");
    const auto expected = torch::linear(hidden, d(mlp.fc_out->weight), d(mlp.fc_out->bias));
    torch::Tensor fused, separate;
    {
      torch::NoGradGuard no_grad;
      fused = mlp.forward(x);
    }
    separate = mlp.forward(x); // autograd on: the separate GELU
    const double tol = dtype == torch::kFloat32 ? 1e-5 : 1e-2;
    CHECK(fused.sizes() == expected.sizes());
    CHECK(rel_err(fused, expected) < tol);
    CHECK(rel_err(separate, expected) < tol);
  }
}
#endif

} // namespace
} // namespace arl2::test
