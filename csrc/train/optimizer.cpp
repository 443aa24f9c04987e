#include "train/optimizer.h"

#include <set>

#include <c10/util/Exception.h>

namespace arl2::train {

std::unique_ptr<torch::optim::AdamW> make_adamw(
    const std::vector<std::pair<std::string, at::Tensor>>& params,
    const AdamWSettings& settings,
    const std::vector<at::Tensor>& no_weight_decay) {
  TORCH_CHECK(!params.empty(), "the optimizer got no trainable parameters");
  std::set<const c10::TensorImpl*> undecayed;
  for (const auto& p : no_weight_decay) {
    undecayed.insert(p.unsafeGetTensorImpl());
  }
  std::vector<at::Tensor> decayed, exempt;
  for (const auto& [name, p] : params) {
    TORCH_CHECK(p.requires_grad(), "parameter ", name, " is frozen; only trainable parameters go to the optimizer");
    (undecayed.count(p.unsafeGetTensorImpl()) ? exempt : decayed).push_back(p);
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
