#include "train/optimizer.h"

#include <c10/util/Exception.h>

namespace arl2::train {

bool exempt_from_weight_decay(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("A_log") || ends_with("dt_bias");
}

std::unique_ptr<torch::optim::AdamW> make_adamw(
    const std::vector<std::pair<std::string, at::Tensor>>& params, const AdamWSettings& settings) {
  TORCH_CHECK(!params.empty(), "the optimizer got no trainable parameters");
  std::vector<at::Tensor> decayed, exempt;
  for (const auto& [name, p] : params) {
    TORCH_CHECK(p.requires_grad(), "parameter ", name, " is frozen; only trainable parameters go to the optimizer");
    (exempt_from_weight_decay(name) ? exempt : decayed).push_back(p);
  }
  auto options = [&](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(settings.lr)
                                                            .betas({settings.beta1, settings.beta2})
                                                            .eps(settings.eps)
                                                            .weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, options(settings.weight_decay));
  groups.emplace_back(exempt, options(0.0));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(settings.lr));
}

void set_lr(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

} // namespace arl2::train
