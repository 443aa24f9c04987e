// Tests of the YAML config (csrc/config): the presets in configs/ load, fields override a preset, and
// every mistake is reported with its key path and line.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
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
  // No hybrid section: the teacher; an empty file: Wan2.1-T2V-1.3B.
  CHECK_FALSE(parse("model:\n  preset: tiny\n").hybrid.has_value());
  CHECK(parse("").model.dim == 1536);
}

TEST_CASE("config mistakes name the key path and the line", "[config][errors]") {
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratio: abc\n"),
      "test.yaml: hybrid.ratio: expected a number, got \"abc\" (line 4)"));
  CHECK(contains(
      error_in("model:\n  preset: tiny\nhybrid:\n  ratoi: 0.5\n"),
      "hybrid.ratoi: unknown key; known keys: layers, ratio, policy, lora, lora_rank, lora_alpha (line 4)"));
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

TEST_CASE("configs the fuzzer found are refused or loaded, never crash", "[config]") {
  // scripts/fuzz.sh saves every input that crashed the loader here; each stays a regression test.
  const std::string dir = ARL2_CONFIG_CRASHES_DIR;
  for (const auto& name : list_dir(dir)) {
    INFO(name);
    try {
      config::load_config(dir + "/" + name);
    } catch (const c10::Error&) {
    }
  }
}

} // namespace
} // namespace arl2::test
