// export_teacher (see trained_teacher.h).
#include "train/trained_teacher.h"

#include <set>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "io/safetensors.h"
#include "io/value_checks.h"
#include "model/wan_dit.h"
#include "model/weights.h"

namespace arl2::train {

void export_teacher(
    const config::Config& config, const std::string& checkpoint, TrainedWeights weights, const std::string& out) {
  const io::SafetensorsFile file(checkpoint);
  const auto state = read_checkpoint_state(file);
  TORCH_CHECK(
      state.stage == 0,
      checkpoint,
      ": a stage-",
      state.stage,
      " checkpoint holds a hybrid's parameters, not a whole model; export it with its run's config (a hybrid "
      "section, train.stage: ",
      state.stage,
      ")");
  const auto dtype = config.train.dtype == "float64" ? at::kDouble : at::kFloat;
  model::WanDiT teacher(config.model, at::TensorOptions().dtype(dtype));
  const auto prefix = checkpoint_prefix(weights);
  std::set<std::string> expected;
  c10::NoGradGuard no_grad;
  for (auto& p : teacher.named_parameters()) {
    const auto key = prefix + p.key();
    expected.insert(key);
    io::copy_checked(
        file,
        key,
        p.value(),
        "no '" + key + "' for the model's '" + p.key() + "'",
        c10::str("the configured model's is ", p.value().sizes(), " (model section)"));
  }
  for (const auto& key : file.keys()) {
    TORCH_CHECK(
        key.rfind(prefix, 0) != 0 || expected.count(key),
        checkpoint,
        ": '",
        key,
        "' is not a parameter of the configured model (model section)");
  }
  model::save_weights(teacher, out);
}

} // namespace arl2::train
