#include "train/ema.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

namespace arl2::train {

Ema::Ema(std::vector<std::pair<std::string, at::Tensor>> params, double decay, int64_t start_step)
    : params_(std::move(params)), decay_(decay), start_step_(start_step) {
  TORCH_CHECK(decay >= 0 && decay < 1, "train.ema_decay must be in [0, 1), got ", decay);
  TORCH_CHECK(start_step >= 0, "train.ema_start_step must not be negative, got ", start_step);
  c10::NoGradGuard no_grad;
  for (const auto& [name, p] : params_) {
    shadow_.emplace_back(name, p.detach().to(at::kFloat, /*non_blocking=*/false, /*copy=*/true));
  }
}

void Ema::update(int64_t step) {
  c10::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& s = shadow_[i].second;
    const at::Tensor p = params_[i].second.detach();
    if (step < start_step_) {
      s.copy_(p);
    } else {
      s.lerp_(p.to(at::kFloat), 1.0 - decay_); // s + (1 - decay) (p - s)
    }
  }
}

} // namespace arl2::train
