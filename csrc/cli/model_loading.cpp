#include "model_loading.h"

#include "io/safetensors.h"
#include "model/conversion.h"
#include "model/weights.h"
#include "train/checkpoint.h"

namespace arl2::cli {

std::shared_ptr<model::WanDiT> build_model(
    const config::Config& config, const at::TensorOptions& options, train::TrainedWeights trained) {
  const auto& hybrid_checkpoint = config.inference.hybrid_checkpoint;
  const bool real = !options.device().is_meta();
  if (real && config.hybrid && !hybrid_checkpoint.empty() &&
      train::is_training_checkpoint(io::SafetensorsFile(hybrid_checkpoint))) {
    auto hybrid = train::load_trained_hybrid(config, *config.hybrid, hybrid_checkpoint, trained, options);
    model::merge_ffn_lora(*hybrid);
    return hybrid;
  }
  auto dit = std::make_shared<model::WanDiT>(config.model, options);
  if (real && !config.inference.checkpoint.empty()) {
    model::load_weights(*dit, config.inference.checkpoint);
  }
  if (config.hybrid) {
    model::convert_to_hybrid(*dit, *config.hybrid);
    model::merge_ffn_lora(*dit);
  }
  if (real && !hybrid_checkpoint.empty()) {
    model::load_weights(*dit, hybrid_checkpoint);
  }
  return dit;
}

} // namespace arl2::cli
