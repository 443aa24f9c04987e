// make_teacher, make_teacher_to_train and base_fingerprint (see teacher.h).
#include "train/teacher.h"

#include <torch/utils.h>

#include "io/file_fingerprint.h"
#include "model/weights.h"

namespace arl2::train {

std::shared_ptr<model::WanDiT> make_teacher(
    const config::Config& config, const std::string& base_path, const at::TensorOptions& options) {
  torch::manual_seed(config.train.seed);
  auto teacher = std::make_shared<model::WanDiT>(config.model, options);
  if (base_path.empty()) {
    model::draw_random_weights(*teacher);
  } else {
    model::load_weights(*teacher, base_path);
  }
  for (auto& p : teacher->parameters()) {
    p.requires_grad_(false);
  }
  return teacher;
}

std::shared_ptr<model::WanDiT> make_teacher_to_train(const config::Config& config, const at::TensorOptions& options) {
  torch::manual_seed(config.train.seed);
  return std::make_shared<model::WanDiT>(config.model, options);
}

std::string base_fingerprint(
    const config::Config& config, const std::string& base_path, const at::TensorOptions& options) {
  if (!base_path.empty()) {
    return io::file_fingerprint(base_path);
  }
  return "random:seed=" + std::to_string(config.train.seed) + ":" + std::string(options.dtype().name()) + ":" +
         c10::DeviceTypeName(options.device().type(), /*lower_case=*/true);
}

} // namespace arl2::train
