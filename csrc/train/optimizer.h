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

// Group 0: decayed, group 1: the parameters among `params` that are in `no_weight_decay` (weight decay 0; the
// layers declare them, e.g. HybridAttention::no_weight_decay_parameters). Throws if `params` is empty or one is
// frozen.
std::unique_ptr<torch::optim::AdamW> make_adamw(
    const std::vector<std::pair<std::string, at::Tensor>>& params,
    const AdamWSettings& settings,
    const std::vector<at::Tensor>& no_weight_decay = {});

// Sets the learning rate of every group (the schedule runs outside the optimizer).
void set_lr(torch::optim::AdamW& optimizer, double lr);

} // namespace arl2::train
