// load_trained_hybrid and export_merged (see trained_hybrid.h).
#include "train/trained_hybrid.h"

#include <set>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "io/safetensors.h"
#include "io/value_checks.h"
#include "model/conversion.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/teacher.h"
#include "train/trainer.h"

namespace arl2::train {
std::shared_ptr<model::WanDiT> load_trained_hybrid(
    const config::Config& config,
    const model::HybridOptions& hybrid,
    const std::string& checkpoint,
    TrainedWeights weights,
    const at::TensorOptions& options) {
  const io::SafetensorsFile file(checkpoint);
  const auto state = read_checkpoint_state(file);
  TORCH_CHECK(
      state.stage != 0,
      checkpoint,
      ": a stage-0 checkpoint holds a whole model, not a hybrid's parameters; export it with the teacher's "
      "config (train.stage: 0) and load the file as inference.checkpoint");
  const auto base = config.inference.checkpoint.empty() ? state.base_weights : config.inference.checkpoint;
  check_base_weights(checkpoint, state, base, base_fingerprint(config, base, options));
  auto model = make_teacher(config, base, options);
  model::convert_to_hybrid(*model, hybrid);

  const auto prefix = checkpoint_prefix(weights);
  std::set<std::string> expected;
  c10::NoGradGuard no_grad;
  for (const auto& group : model::group_parameters(*model)) {
    if (group.name == "base") {
      continue;
    }
    for (const auto& [name, p] : group.parameters) {
      const auto key = prefix + name;
      expected.insert(key);
      io::copy_checked(
          file,
          key,
          p,
          "no '" + key + "' for the hybrid's '" + name + "'" +
              (group.name == "lora" ? " (a stage-1 checkpoint has no LoRA: set hybrid.lora: false)" : ""),
          c10::str("the hybrid's is ", p.sizes()));
    }
  }
  for (const auto& key : file.keys()) {
    TORCH_CHECK(
        key.rfind(prefix, 0) != 0 || expected.count(key),
        checkpoint,
        ": '",
        key,
        "' is not a parameter of the configured hybrid (hybrid.layers, hybrid.ratio, hybrid.lora)");
  }
  return model;
}

void export_merged(
    const config::Config& config, const std::string& checkpoint, TrainedWeights weights, const std::string& out) {
  const auto dtype = config.train.dtype == "float64" ? at::kDouble : at::kFloat;
  const auto hybrid = load_trained_hybrid(
      config, student_hybrid_options(config), checkpoint, weights, at::TensorOptions().dtype(dtype).device(at::kCPU));
  model::merge_ffn_lora(*hybrid);
  model::save_weights(*hybrid, out);
}

} // namespace arl2::train
