// A training checkpoint as a model: loaded over its base weights (train/trained_hybrid.h) it generates
// what `arl2 export`'s merged file generates with no base at all (float64, tight tolerance: the merge
// sums the FFN adapters into the weights); the merge removes the FFN adapters and keeps the memory path's.
#include <string>

#include <torch/torch.h>

#include "catch.h"
#include "inference/generator.h"
#include "model/conversion.h"
#include "model_test_util.h"
#include "train/trained_hybrid.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

torch::Tensor generate(const std::shared_ptr<model::WanDiT>& model, const config::Config& config) {
  torch::manual_seed(3);
  const auto text = torch::randn({1, 5, 32}, torch::kDouble);
  return inference::ARGenerator(model, config.inference.generator).generate(text, 4, /*seed=*/0);
}

TEST_CASE("an exported hybrid generates as its checkpoint over the base weights", "[train][export]") {
  TempDir data, dir;
  write_clips(data, 1);
  torch::manual_seed(1);
  model::save_weights(*random_tiny(torch::kDouble), dir.file("base.safetensors"));
  auto config = tiny_config(2, data.path);
  config.train.dtype = "float64";
  config.train.lr = 3e-2; // adapters far enough from zero that a lost merge would show
  config.inference.checkpoint = dir.file("base.safetensors");
  const auto checkpoint = dir.file("step_3.safetensors");
  {
    train::Trainer trainer(config, "hash");
    for (int i = 0; i < 3; ++i) {
      trainer.step();
    }
    trainer.save_checkpoint(checkpoint);
  }
  const auto f64 = torch::dtype(torch::kDouble);
  const auto from_checkpoint =
      train::load_trained_hybrid(config, *config.hybrid, checkpoint, train::TrainedWeights::kRaw, f64);

  const auto merged_path = dir.file("merged.safetensors");
  train::export_merged(config, checkpoint, train::TrainedWeights::kRaw, merged_path);
  // as `arl2 generate` builds it: the hybrid config, no base weights
  auto merged = std::make_shared<model::WanDiT>(config.model, f64);
  model::convert_to_hybrid(*merged, *config.hybrid);
  model::merge_ffn_lora(*merged);
  model::load_weights(*merged, merged_path);

  const auto expected = generate(from_checkpoint, config);
  const auto got = generate(merged, config);
  CHECK(torch::allclose(got, expected, /*rtol=*/1e-10, /*atol=*/1e-12));
  auto base_only = std::make_shared<model::WanDiT>(config.model, f64);
  model::load_weights(*base_only, dir.file("base.safetensors"));
  model::convert_to_hybrid(*base_only, *config.hybrid);
  CHECK(!torch::allclose(generate(base_only, config), expected, 1e-6, 1e-8)); // training changed something

  const auto trained = from_checkpoint->named_parameters();
  const auto written = merged->named_parameters();
  CHECK(written.find("blocks.0.ffn.0.lora_B") == nullptr);
  CHECK(written.find("blocks.0.ffn.2.lora_A") == nullptr);
  CHECK(!torch::equal(written["blocks.0.ffn.0.weight"], trained["blocks.0.ffn.0.weight"])); // merged into
  CHECK(torch::equal(written["blocks.0.self_attn.lora_q_B"], trained["blocks.0.self_attn.lora_q_B"]));
  CHECK(torch::equal(written["blocks.1.ffn.0.weight"], trained["blocks.1.ffn.0.weight"])); // not hybrid

  // the EMA is another set of values; a stage-1 hybrid asks for no adapters the checkpoint lacks
  const auto ema = train::load_trained_hybrid(config, *config.hybrid, checkpoint, train::TrainedWeights::kEma, f64);
  CHECK(!torch::equal(ema->named_parameters()["blocks.0.self_attn.A_log"], trained["blocks.0.self_attn.A_log"]));
  auto no_lora = *config.hybrid;
  no_lora.lora = false;
  CHECK(contains(
      error_of([&] { train::load_trained_hybrid(config, no_lora, checkpoint, train::TrainedWeights::kRaw, f64); }),
      "'param.blocks.0.ffn.0.lora_A' is not a parameter of the configured hybrid"));

  // other base weights are refused, naming the files
  torch::manual_seed(2);
  model::save_weights(*random_tiny(torch::kDouble), dir.file("other.safetensors"));
  auto other = config;
  other.inference.checkpoint = dir.file("other.safetensors");
  const auto message = error_of(
      [&] { train::export_merged(other, checkpoint, train::TrainedWeights::kRaw, dir.file("x.safetensors")); });
  CHECK(contains(message, "'" + checkpoint + "' was trained on the base weights '" + dir.file("base.safetensors")));
  CHECK(contains(message, "not on '" + dir.file("other.safetensors")));
}

} // namespace
} // namespace arl2::test
