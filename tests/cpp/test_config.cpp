// Tests of the YAML config (csrc/config): the presets in configs/ load, fields override a preset, and
// every mistake is reported with its key path and line.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
#include "io/directories.h"
#include "model/conversion.h"
#include "model_test_util.h"
#include "temp_dir.h"

namespace arl2::test {
namespace {

config::Config parse(const std::string& yaml) {
  return config::parse_config(yaml, "test.yaml");
}

std::string error_in(const std::string& yaml) {
  return error_of([&] { parse(yaml); });
}

TEST_CASE("the shipped configs load", "[config]") {
  const std::string dir = ARL2_CONFIGS_DIR;
  const auto tiny = config::load_config(dir + "/tiny-hybrid50.yaml");
  CHECK(tiny.model.dim == 64);
  REQUIRE(tiny.hybrid.has_value());
  CHECK(model::hybrid_layer_indices(*tiny.hybrid, tiny.model.num_layers) == std::vector<int64_t>{0});
  CHECK_FALSE(tiny.hybrid->lora);

  const auto wan = config::load_config(dir + "/wan2.1-1.3b-hybrid75.yaml");
  CHECK(wan.model.dim == 1536);
  CHECK(wan.model.num_layers == 30);
  REQUIRE(wan.hybrid.has_value());
  CHECK(model::hybrid_layer_indices(*wan.hybrid, 30).size() == 22);
  CHECK(wan.hybrid->lora);
  CHECK(wan.hybrid->lora_options.rank == 16);
  CHECK(wan.hybrid->lora_options.alpha == 32);
  for (const char* name : {"wan2.1-1.3b-hybrid50.yaml", "wan2.1-1.3b-hybrid100.yaml"}) {
    INFO(name);
    CHECK(config::load_config(dir + "/" + name).hybrid.has_value());
  }
}

TEST_CASE("every shipped config loads", "[config]") {
  int64_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ARL2_CONFIGS_DIR)) {
    if (entry.path().extension() == ".yaml") {
      INFO(entry.path().string());
      CHECK_NOTHROW(config::load_config(entry.path().string()));
      ++count;
    }
  }
  CHECK(count >= 8);
}

TEST_CASE("config fields override the preset", "[config]") {
  const auto c = parse(R"(
model:
  preset: tiny
  num_layers: 4
  patch: [1, 1, 2]
  eps: 1.0e-5
hybrid:
  layers: [3, 1]
  lora: yes
)");
  CHECK(c.model.dim == 64);
  CHECK(c.model.num_layers == 4);
  CHECK(c.model.patch == std::array<int64_t, 3>{1, 1, 2});
  CHECK(c.model.eps == 1e-5);
  CHECK(c.hybrid->layers == std::vector<int64_t>{3, 1});
  CHECK(c.hybrid->lora);
  CHECK_FALSE(c.hybrid->ffn_lora_all_layers);
  // The FFN adapters on every layer: read, and written back only when set (other configs keep their hash).
  const auto all = parse("model:\n  preset: tiny\nhybrid:\n  layers: [0]\n  lora: true\n  ffn_lora_all_layers: true\n");
  CHECK(all.hybrid->ffn_lora_all_layers);
  CHECK(parse(config::dump_config(all)).hybrid->ffn_lora_all_layers);
  CHECK(config::dump_config(c).find("ffn_lora_all_layers") == std::string::npos);
  // No hybrid section: the teacher; a model section without a preset: Wan2.1-T2V-1.3B.
  CHECK_FALSE(parse("model:\n  preset: tiny\n").hybrid.has_value());
  CHECK(parse("model: {}\n").model.dim == 1536);
}

TEST_CASE("a config names its model: an empty file or one without a model section is refused", "[config][errors]") {
  CHECK(contains(error_in(""), "test.yaml: the config is empty: it must at least name the model"));
  CHECK(contains(error_in("# nothing yet\n"), "the config is empty"));
  CHECK(contains(error_in("train:\n  seed: 3\n"), "test.yaml: model: missing: name the model, e.g. model: {preset:"));
  CHECK(config::parse_config("", "test.yaml", {"model.preset=tiny"}).model.dim == 64);
}

TEST_CASE("a key given twice is refused, naming both lines", "[config][errors]") {
  CHECK(contains(
      error_in("model:\n  preset: tiny\ntrain:\n  lr: 1e-4\n  steps: 3\n  lr: 1e-2\n"),
      "train.lr: given twice (first at line 4) (line 6)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nmodel:\n  preset: toy\n"), "config.model: given twice (first at line 1)"));
}

TEST_CASE("every numeric value is checked against its field's range, naming the key and the line", "[config][errors]") {
  const auto error_in_section = [](const std::string& section, const std::string& entry) {
    return error_in("model:\n  preset: tiny\n" + section + ":\n  " + entry + "\n");
  };
  // AdamW's ranges, as torch.optim.AdamW checks them
  CHECK(
      contains(error_in_section("train", "beta1: 1.5"), "train.beta1: expected a number in [0, 1), got 1.5 (line 4)"));
  CHECK(contains(error_in_section("train", "beta2: -0.1"), "train.beta2: expected a number in [0, 1), got -0.1"));
  CHECK(contains(error_in_section("train", "eps: -1"), "train.eps: expected a number >= 0, got -1"));
  CHECK(contains(
      error_in_section("train", "weight_decay: -0.5"), "train.weight_decay: expected a number >= 0, got -0.5"));
  CHECK(contains(error_in_section("train", "lr: 0"), "train.lr: expected a number > 0, got 0"));
  CHECK(contains(error_in_section("train", "lr: .nan"), "train.lr: expected a number > 0, got .nan"));
  CHECK(contains(error_in_section("train", "ema_decay: 1"), "train.ema_decay: expected a number in [0, 1), got 1"));
  CHECK(
      contains(error_in_section("train", "min_lr_ratio: 2"), "train.min_lr_ratio: expected a number in [0, 1], got 2"));
  CHECK(contains(error_in_section("train", "steps: 0"), "train.steps: expected a positive integer, got 0"));
  CHECK(contains(
      error_in_section("train", "steps: 5"), "train.warmup_steps (100) must not exceed train.steps (5) (line 4)"));
  CHECK(contains(
      error_in_section("train", "batch_size: 9223372036854775807"),
      "train.batch_size: expected an integer in [1, 1048576], got 9223372036854775807"));
  CHECK(contains(
      error_in_section("train", "out: \"\""), "train.out: expected the run folder's path, got an empty string"));
  CHECK(contains(
      error_in_section("inference", "frames_per_block: 0"),
      "inference.frames_per_block: expected an integer in [1, 1024], got 0 (line 4)"));
  CHECK(contains(
      error_in_section("inference", "context_timestep: 5000"),
      "inference.context_timestep: expected a number in [0, 1000], got 5000"));
  CHECK(contains(
      error_in_section("inference", "denoising_steps: [1000, 0]"),
      "inference.denoising_steps[1]: expected an integer in [1, 1000], got 0"));
  CHECK(contains(error_in_section("inference", "shift: -1"), "inference.shift: expected a number > 0, got -1"));
  CHECK(contains(
      error_in_section("inference", "latent_height: 100000"),
      "inference.latent_height: expected an integer in [1, 65536], got 100000"));
  CHECK(contains(
      error_in_section("inference", "kv_window_frames: -3"),
      "inference.kv_window_frames: expected an integer in [0, 1048576], got -3"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\n  num_layers: 10000000\n"),
      "model.num_layers: expected an integer in [1, 1024], got 10000000 (line 3)"));
  CHECK(
      contains(error_in("model:\n  preset: tiny\n  eps: .inf\n"), "model.eps: expected a number in (0, 1], got .inf"));
  CHECK(contains(error_in("model:\n  patch: [1, 0, 2]\n"), "model.patch[1]: expected an integer in [1, 256], got 0"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: 0.5\n  lora_rank: 0\n"),
      "hybrid.lora_rank: expected an integer in [1, 4096], got 0 (line 5)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: .nan\n"),
      "hybrid.ratio: expected a finite number, got .nan"));
}

TEST_CASE("config mistakes name the key path and the line", "[config][errors]") {
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: abc\n"),
      "test.yaml: hybrid.ratio: expected a number, got \"abc\" (line 4)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratoi: 0.5\n"),
      "hybrid.ratoi: unknown key; known keys: layers, ratio, policy, lora, lora_rank, lora_alpha, ffn_lora_all_layers "
      "(line 4)"));
  CHECK(contains(
      error_in("modle:\n  preset: tiny\n"),
      "config.modle: unknown key; known keys: model, hybrid, inference, train, data (line 1)"));
  CHECK(
      contains(error_in("model:\n  num_layers: 2.5\n"), "model.num_layers: expected an integer, got \"2.5\" (line 2)"));
  CHECK(contains(error_in("model:\n  patch: [1, 2]\n"), "model.patch: expected 3 integers, got 2 (line 2)"));
  CHECK(contains(error_in("model:\n  patch: 2\n"), "model.patch: expected a list of integers, got \"2\" (line 2)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  layers: [0, x]\n"),
      "hybrid.layers[1]: expected an integer, got \"x\" (line 4)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: 0.5\n  lora: maybe\n"),
      "hybrid.lora: expected true or false, got \"maybe\" (line 5)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: 0.5\n  ffn_lora_all_layers: true\n"),
      "hybrid.ffn_lora_all_layers: needs hybrid.lora: true (it says where the FFN adapters go) (line 5)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio:\n"), "hybrid.ratio: expected a number, got nothing"));
  CHECK(contains(error_in("model: tiny\n"), "model: expected a mapping of keys to values, got \"tiny\" (line 1)"));
  CHECK(contains(
      error_in("model:\n  preset: huge\n"),
      "model.preset: expected one of wan2.1-t2v-1.3b, tiny, toy, got \"huge\" (line 2)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\n  num_heads: 3\n"),
      "test.yaml: model.dim (64) must be divisible by model.num_heads (3)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  layers: [0]\n  ratio: 0.5\n"),
      "give either hybrid.layers or hybrid.ratio (with hybrid.policy), not both"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  layers: [2]\n"),
      "hybrid.layers: layer 2 is out of range for a model of 2 layers"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: 0.5\n  policy: last\n"),
      "hybrid.policy: expected one of first, got \"last\" (line 5)"));
  CHECK(contains(error_in("model:\n  preset: [tiny\n"), "test.yaml: not valid YAML"));
  CHECK(
      contains(error_of([] { config::load_config("/nonexistent.yaml"); }), "config: cannot read '/nonexistent.yaml'"));
}

TEST_CASE("a section's keys are its field table: read, dumped and read back", "[config]") {
  // Stage 3, guided, with the Euler sampler and a layer list: a config in which every key of the tables applies and
  // is dumped, but the stage-0 and stage-2 options.
  const auto c = parse(
      "model:\n  preset: tiny\nhybrid:\n  layers: [0]\n  lora: true\n  ffn_lora_all_layers: true\n"
      "inference:\n  sampler: euler\n  guidance_scale: 2\n  frames_per_block: 2\n"
      "train:\n  stage: 3\n  rollout_frames: 8\n  checkpoint_every: 10\n  seed: 5000000000\n");
  const auto dumped = config::dump_config(c);
  std::vector<std::string> keys = io::field_keys(c.model);
  for (const auto& table :
       {io::field_keys(*c.hybrid), io::field_keys(c.inference), io::field_keys(c.train), io::field_keys(c.data)}) {
    keys.insert(keys.end(), table.begin(), table.end());
  }
  for (const auto& key : keys) {
    INFO(key);
    CHECK(
        contains(dumped, "  " + key + ": ") ==
        (key != "ratio" && key != "prompt_dropout" && key != "teacher_guidance_scale"));
  }
  CHECK(contains(dumped, "seed: 5000000000"));
  CHECK(config::dump_config(parse(dumped)) == dumped);
  CHECK(config::config_hash(parse(dumped)) == config::config_hash(c));
}

TEST_CASE("configs the fuzzer found are refused or loaded, never crash", "[config]") {
  // scripts/fuzz.sh saves every input that crashed the loader here; each stays a regression test.
  const std::string dir = ARL2_CONFIG_CRASHES_DIR;
  for (const auto& name : io::list_folder(dir)) {
    INFO(name);
    try {
      config::load_config(dir + "/" + name);
    } catch (const c10::Error&) {
    }
  }
}

} // namespace
} // namespace arl2::test
