// AdamW over the trainable parameters in two groups: weight decay for all but the decay-rate
// parameters of the hybrid layers (A_log and dt_bias, whose pull towards zero would change the memory's
// forgetting rate rather than regularise).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

namespace arl2::train {

struct AdamWSettings {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// Whether a parameter of this name is kept out of weight decay.
bool exempt_from_weight_decay(const std::string& name);

// Group 0: decayed, group 1: exempt (weight decay 0). Throws if `params` is empty or one is frozen.
std::unique_ptr<torch::optim::AdamW> make_adamw(
    const std::vector<std::pair<std::string, at::Tensor>>& params, const AdamWSettings& settings);

// Sets the learning rate of every group (the schedule runs outside the optimizer).
void set_lr(torch::optim::AdamW& optimizer, double lr);

} // namespace arl2::train
