// Tests of the config's `inference:` section and of --set overrides (csrc/config).
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
#include "model_test_util.h"

namespace arl2::test {
namespace {

TEST_CASE("the inference section sets the generator, dtype, device and checkpoints", "[config]") {
  const auto c = config::parse_config(
      "model:\n  preset: tiny\ninference:\n  denoising_steps: [1000, 500]\n  shift: 8.0\n  warp: false\n  sampler: "
      "euler\n"
      "  context_timestep: 5\n  frames_per_block: 1\n  latent_height: 4\n  latent_width: 6\n"
      "  kv_window_frames: 6\n  kv_sink_frames: 3\n  cuda_graphs: false\n  dtype: float32\n  device: cpu\n"
      "  checkpoint: base.safetensors\n  guidance_scale: 4.5\n",
      "test.yaml");
  const auto& g = c.inference.generator;
  CHECK(g.schedule.denoising_steps == std::vector<int64_t>{1000, 500});
  CHECK(g.schedule.shift == 8.0);
  CHECK(!g.schedule.warp);
  CHECK(g.schedule.sampler == inference::Sampler::kEuler);
  // Written back only when not the default, so that configs without it keep their hash.
  CHECK(
      config::parse_config(config::dump_config(c), "again.yaml").inference.generator.schedule.sampler ==
      inference::Sampler::kEuler);
  CHECK(
      config::dump_config(config::parse_config("model:\n  preset: tiny\n", "t.yaml")).find("sampler") ==
      std::string::npos);
  CHECK(g.context_timestep == 5.0);
  CHECK(g.guidance_scale == 4.5);
  CHECK(config::parse_config(config::dump_config(c), "again.yaml").inference.generator.guidance_scale == 4.5);
  CHECK(
      config::dump_config(config::parse_config("model:\n  preset: tiny\n", "t.yaml")).find("guidance") ==
      std::string::npos);
  CHECK(g.frames_per_block == 1);
  CHECK((g.latent_height == 4 && g.latent_width == 6));
  CHECK((g.kv.window_frames == 6 && g.kv.sink_frames == 3));
  CHECK(!g.cuda_graphs);
  CHECK(c.inference.dtype == "float32");
  CHECK(c.inference.device == "cpu");
  CHECK(c.inference.checkpoint == "base.safetensors");
  CHECK(c.inference.hybrid_checkpoint.empty());
}

TEST_CASE("the inference section's mistakes name the key and the line", "[config]") {
  const auto error = [](const std::string& yaml) { return error_of([&] { config::parse_config(yaml, "test.yaml"); }); };
  CHECK(contains(error("model:\n  preset: tiny\ninference:\n  frames: 3\n"), "inference.frames: unknown key"));
  CHECK(contains(error("model:\n  preset: tiny\ninference:\n  frames: 3\n"), "(line 4)"));
  CHECK(contains(error("inference:\n  dtype: float16\n"), "inference.dtype: expected one of"));
  CHECK(contains(error("inference:\n  frames_per_block: three\n"), "inference.frames_per_block: expected"));
  CHECK(contains(error("model:\n  preset: tiny\ninference:\n  sampler: ddpm\n"), "inference.sampler: expected one of"));
  CHECK(contains(
      error("model:\n  preset: tiny\ninference:\n  guidance_scale: -1\n"),
      "inference.guidance_scale: expected a number in [0, 100], got -1 (line 4)"));
}

TEST_CASE("overrides (--set) replace and add values before the file is read", "[config]") {
  const std::string yaml = "model:\n  preset: tiny\ninference:\n  frames_per_block: 3\n";
  const auto c = config::parse_config(
      yaml, "test.yaml", {"inference.frames_per_block=1", "inference.device=cpu", "hybrid.ratio=1.0"});
  CHECK(c.inference.generator.frames_per_block == 1);
  CHECK(c.inference.device == "cpu");
  REQUIRE(c.hybrid.has_value());
  CHECK(c.hybrid->ratio == 1.0);
  const auto error = [&](const std::string& o) {
    return error_of([&] { config::parse_config(yaml, "test.yaml", {o}); });
  };
  CHECK(contains(error("inference.frames_per_block"), "expected key=value"));
  CHECK(contains(error("inference.frame=2"), "inference.frame: unknown key"));
  CHECK(contains(error("inference.frames_per_block=x"), "inference.frames_per_block: expected"));
  CHECK(contains(error("inference.frames_per_block=x"), "(set on the command line)"));
  CHECK(contains(error("model.preset.x=1"), "'preset' is not a mapping"));
}

} // namespace
} // namespace arl2::test
