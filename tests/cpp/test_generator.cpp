// Tests of the autoregressive generator (csrc/inference/generator.h) on the tiny model, CPU: it is the
// loop of Self Forcing's causal inference written out over the model's own calls, the denoising passes
// leave every cache bit-identical, streaming hands out the blocks of the whole, a hybrid-100% model's
// memory stays flat with length and runs past Wan's 1024 frame positions, and a bad request fails
// before any work.
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "catch.h"
#include "generator_test_util.h"
#include "inference/flow_matching.h"
#include "inference/generator.h"
#include "model/conversion.h"
#include "model_test_util.h"

namespace arl2::test {
namespace {

using inference::ARGenerator;
using inference::GeneratorOptions;

// Self Forcing's per-block loop written out over forward_cached, add_noise and x0_from_flow, drawing
// the noise in the generator's order: the block's starting noise, then one draw per re-noising. Under
// guidance, the empty prompt's run keeps caches of its own and the flows combine as u + s (c - u).
torch::Tensor naive_generation(
    const model::WanDiT& dit, const GeneratorOptions& o, const torch::Tensor& text, int64_t frames, uint64_t seed) {
  torch::NoGradGuard no_grad;
  const inference::FlowMatchSchedule schedule(o.schedule);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const bool rolling = o.kv.window_frames > 0;
  const auto make_caches = [&] {
    return dit.make_caches(
        text.size(0),
        o.latent_height,
        o.latent_width,
        {rolling ? o.kv.window_frames : frames, o.kv.sink_frames, rolling});
  };
  auto caches = make_caches();
  auto empty_caches = make_caches();
  const auto empty = torch::zeros_like(text);
  const auto options = dit.parameters().front().options();
  const std::vector<int64_t> shape{
      text.size(0), dit.config().in_dim, o.frames_per_block, o.latent_height, o.latent_width};
  const auto at_t = [&](double t) { return torch::full({text.size(0), o.frames_per_block}, t); };
  const auto flow = [&](const torch::Tensor& x, double t) {
    const auto c = dit.forward_cached(x, at_t(t), text, caches, false);
    if (!o.guided()) {
      return c;
    }
    const auto u = dit.forward_cached(x, at_t(t), empty, empty_caches, false);
    return u + o.guidance_scale * (c - u);
  };
  const auto& steps = schedule.step_timesteps();
  std::vector<torch::Tensor> blocks;
  for (int64_t b = 0; b < frames / o.frames_per_block; ++b) {
    auto x = torch::randn(shape, gen, options);
    torch::Tensor x0;
    for (size_t i = 0; i < steps.size(); ++i) {
      x0 = schedule.x0_from_flow(x, flow(x, steps[i]), steps[i]);
      if (i + 1 < steps.size()) {
        x = schedule.add_noise(x0, torch::randn(shape, gen, options), steps[i + 1]);
      }
    }
    dit.forward_cached(x0, at_t(o.context_timestep), text, caches, true);
    if (o.guided()) {
      dit.forward_cached(x0, at_t(o.context_timestep), empty, empty_caches, true);
    }
    blocks.push_back(x0);
  }
  return torch::cat(blocks, 2);
}

// Every tensor a cache holds for the next block: keys and values (all committed slots), or the state.
std::vector<torch::Tensor> snapshot(const std::vector<model::LayerCache>& caches) {
  std::vector<torch::Tensor> out;
  for (const auto& c : caches) {
    if (const auto* kv = c.as_kv_cache()) {
      const auto [k, v] = kv->visible(0);
      out.push_back(k.clone());
      out.push_back(v.clone());
    } else {
      out.push_back(c.as_recurrent_state()->state().clone());
    }
  }
  return out;
}

TEST_CASE("generation is the per-block loop over the model's calls", "[generator]") {
  const auto text = torch::randn({2, 5, 32}, torch::kFloat64);
  for (const double ratio : {0.0, 0.5, 1.0}) {
    for (const bool rolling : {false, true}) {
      CAPTURE(ratio, rolling);
      const auto dit = tiny_model(torch::kFloat64, ratio);
      auto o = tiny_options();
      if (rolling) {
        o.kv = {4, 2}; // a 4-frame window with 2 sink frames: blocks 2 and 3 evict
      }
      o.context_timestep = rolling ? 10.0 : 0.0;
      const auto expected = naive_generation(*dit, o, text, 8, 7);
      const auto got = ARGenerator(dit, o).generate(text, 8, 7);
      REQUIRE(got.sizes() == expected.sizes());
      CHECK((got - expected).abs().max().item<double>() == 0.0);
      CHECK(got.std().item<double>() > 0.1); // a fresh Wan head would predict zeros; random weights do not
    }
  }
}

TEST_CASE("guided generation is the loop with the empty prompt's run beside it", "[generator]") {
  const auto text = torch::randn({2, 5, 32}, torch::kFloat64);
  for (const double ratio : {0.0, 0.5, 1.0}) {
    for (const double scale : {0.0, 3.0}) {
      CAPTURE(ratio, scale);
      const auto dit = tiny_model(torch::kFloat64, ratio);
      auto o = tiny_options();
      o.guidance_scale = scale;
      const auto expected = naive_generation(*dit, o, text, 6, 7);
      const auto got = ARGenerator(dit, o).generate(text, 6, 7);
      REQUIRE(got.sizes() == expected.sizes());
      // one batch of both prompts against two runs: the same sums, rounded apart only by batching
      CHECK((got - expected).abs().max().item<double>() < 1e-12);
    }
  }
  SECTION("scale 0 samples the empty prompt; an empty prompt is guided to itself") {
    const auto dit = tiny_model(torch::kFloat64, 0.5);
    auto o = tiny_options();
    const auto unguided_empty = ARGenerator(dit, o).generate(torch::zeros_like(text), 4, 3);
    o.guidance_scale = 0.0;
    CHECK((ARGenerator(dit, o).generate(text, 4, 3) - unguided_empty).abs().max().item<double>() < 1e-12);
    o.guidance_scale = 5.0;
    CHECK(
        (ARGenerator(dit, o).generate(torch::zeros_like(text), 4, 3) - unguided_empty).abs().max().item<double>() <
        1e-12);
  }
}

TEST_CASE("the seed decides the noise", "[generator]") {
  const auto dit = tiny_model(torch::kFloat32, 0.5);
  const auto text = torch::randn({1, 8, 32});
  const ARGenerator generator(dit, tiny_options());
  CHECK(torch::equal(generator.generate(text, 4, 3), generator.generate(text, 4, 3)));
  CHECK(!torch::equal(generator.generate(text, 4, 3), generator.generate(text, 4, 4)));
}

TEST_CASE("denoising passes leave every cache bit-identical; the clean pass writes", "[generator]") {
  for (const double ratio : {0.0, 0.5, 1.0}) {
    CAPTURE(ratio);
    const auto dit = tiny_model(torch::kFloat32, ratio);
    auto run = ARGenerator(dit, tiny_options()).start(torch::randn({2, 5, 32}), 6, 1);
    run.next(); // caches hold a block, so that the passes have something to read
    const auto before = snapshot(run.caches());
    const auto x0 = run.denoise_next();
    CHECK(all_equal(before, snapshot(run.caches())));
    CHECK(run.caches().front().frames_committed() == 2);
    run.commit(x0);
    CHECK(run.caches().front().frames_committed() == 4);
    CHECK(!all_equal(before, snapshot(run.caches())));
  }
}

TEST_CASE("streamed blocks are the returned video, as they finish", "[generator]") {
  const auto dit = tiny_model(torch::kFloat32, 0.5);
  const auto text = torch::randn({2, 5, 32});
  std::vector<inference::FinishedBlock> streamed;
  const auto whole =
      ARGenerator(dit, tiny_options()).generate(text, 6, 5, [&](const auto& block) { streamed.push_back(block); });
  REQUIRE(streamed.size() == 3);
  for (size_t i = 0; i < streamed.size(); ++i) {
    CHECK(streamed[i].index == static_cast<int64_t>(i));
    CHECK(streamed[i].num_blocks == 3);
    CHECK(streamed[i].first_frame == 2 * static_cast<int64_t>(i));
    CHECK(streamed[i].ms >= 0.0);
    CHECK(torch::equal(streamed[i].latents, whole.narrow(2, 2 * static_cast<int64_t>(i), 2)));
  }
}

TEST_CASE("a hybrid-100% model's caches do not grow with the video; the teacher's do", "[generator]") {
  const auto text = torch::randn({1, 5, 32});
  const auto bytes_after = [&](const std::shared_ptr<model::WanDiT>& dit, int64_t blocks) {
    auto run = ARGenerator(dit, tiny_options()).start(text, 2 * blocks, 0);
    while (!run.done()) {
      run.next();
    }
    return run.cache_bytes();
  };
  const auto hybrid = tiny_model(torch::kFloat32, 1.0);
  CHECK(bytes_after(hybrid, 2) == bytes_after(hybrid, 6));
  CHECK(bytes_after(hybrid, 2) == 2 * 2 * 32 * 32 * 4); // 2 layers of one [1, 2, 32, 32] float32 state
  const auto teacher = tiny_model(torch::kFloat32, 0.0);
  CHECK(bytes_after(teacher, 6) == 3 * bytes_after(teacher, 2));
}

TEST_CASE("a hybrid-100% model generates past frame 1024", "[generator]") {
  // One patch per frame and long blocks keep 1050 frames cheap.
  const auto dit = tiny_model(torch::kFloat32, 1.0);
  auto o = tiny_options();
  o.latent_height = 2;
  o.latent_width = 2;
  o.frames_per_block = 75;
  o.schedule.denoising_steps = {1000, 500};
  auto run = ARGenerator(dit, o).start(torch::randn({1, 5, 32}), 1050, 2);
  inference::FinishedBlock last;
  while (!run.done()) {
    last = run.next();
  }
  CHECK(last.first_frame == 975);
  CHECK(run.caches().front().frames_committed() == 1050);
  CHECK(torch::isfinite(last.latents).all().item<bool>());
  CHECK(last.latents.std().item<double>() > 0.1);
}

TEST_CASE("a bad request fails with a clear message before any work", "[generator]") {
  const auto dit = tiny_model(torch::kFloat32, 0.5);
  const ARGenerator generator(dit, tiny_options());
  const auto text = torch::randn({1, 5, 32});
  CHECK(contains(
      error_of([&] { generator.start(text, 5, 0); }), "latent frames (5) must be a positive whole number of blocks"));
  CHECK(contains(error_of([&] { generator.start(text, 0, 0); }), "latent frames (0)"));
  CHECK(contains(
      error_of([&] {
        generator.start(torch::randn({1, 5, 16}), 4, 0);
      }),
      "text embeddings must be [N > 0, L <= 8, 32]"));
  CHECK(contains(error_of([&] { generator.start(torch::randn({1, 9, 32}), 4, 0); }), "got [1, 9, 32]"));
  CHECK(contains(error_of([&] { generator.start(torch::Tensor(), 4, 0); }), "text embeddings: none given"));
  auto o = tiny_options();
  o.latent_height = 5;
  CHECK(contains(error_of([&] { ARGenerator(dit, o); }), "inference.latent_height (5)"));
  o = tiny_options();
  o.kv = {3, 2};
  CHECK(contains(error_of([&] { ARGenerator(dit, o); }), "inference.kv_window_frames (3) must hold the 2 sink frames"));
  o = tiny_options();
  o.schedule.denoising_steps = {500, 750};
  CHECK(contains(error_of([&] { ARGenerator(dit, o); }), "inference.denoising_steps must be strictly decreasing"));
  auto run = generator.start(text, 2, 0);
  run.next();
  CHECK(contains(error_of([&] { run.next(); }), "all 1 blocks are done"));
}

} // namespace
} // namespace arl2::test
