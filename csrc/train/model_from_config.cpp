#include "train/model_from_config.h"

#include <optional>
#include <string>

#include "io/safetensors.h"
#include "model/conversion.h"
#include "model/weights.h"
#include "train/checkpoint.h"

namespace arl2::train {

namespace {

// A file `arl2 export` wrote holds the FFN adapters merged into the weights; one WanDiT.save wrote from a
// converted model with LoRA still holds them as parameters.
bool holds_ffn_adapters(const io::SafetensorsFile& file) {
  for (const auto& key : file.keys()) {
    if (key.find(".ffn.") != std::string::npos && key.find(".lora_") != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

std::shared_ptr<model::WanDiT> model_from_config(
    const config::Config& config, const at::TensorOptions& options, TrainedWeights trained) {
  const auto& hybrid_checkpoint = config.inference.hybrid_checkpoint;
  const bool real = !options.device().is_meta();
  std::optional<io::SafetensorsFile> hybrid_file;
  if (real && !hybrid_checkpoint.empty()) {
    hybrid_file.emplace(hybrid_checkpoint);
  }
  std::shared_ptr<model::WanDiT> dit;
  if (config.hybrid && hybrid_file && is_training_checkpoint(*hybrid_file)) {
    dit = load_trained_hybrid(config, *config.hybrid, hybrid_checkpoint, trained, options);
  } else {
    dit = std::make_shared<model::WanDiT>(config.model, options);
    if (real && !config.inference.checkpoint.empty()) {
      model::load_weights(*dit, config.inference.checkpoint);
    }
    if (config.hybrid) {
      model::convert_to_hybrid(*dit, *config.hybrid);
    }
    if (hybrid_file) {
      if (!holds_ffn_adapters(*hybrid_file)) {
        model::merge_ffn_lora(*dit); // the file's names are the merged model's
      }
      model::load_weights(*dit, hybrid_checkpoint);
    }
  }
  model::merge_ffn_lora(*dit); // what the model runs: the exported form, whatever the file held
  return dit;
}

std::vector<io::NamedPath> weights_files(const config::Config& config) {
  return {
      {"inference.checkpoint", config.inference.checkpoint},
      {"inference.hybrid_checkpoint", config.inference.hybrid_checkpoint}};
}

} // namespace arl2::train
