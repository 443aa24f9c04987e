#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include <c10/util/Exception.h>

namespace arl2::train {

void LrSchedule::validate() const {
  TORCH_CHECK(std::isfinite(base_lr) && base_lr > 0, "train.lr must be a positive number, got ", base_lr);
  TORCH_CHECK(warmup_steps >= 0, "train.warmup_steps must not be negative, got ", warmup_steps);
  TORCH_CHECK(total_steps > 0, "train.steps must be positive, got ", total_steps);
  TORCH_CHECK(
      warmup_steps <= total_steps,
      "train.warmup_steps (",
      warmup_steps,
      ") must not exceed train.steps (",
      total_steps,
      ")");
  TORCH_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1, "train.min_lr_ratio must be in [0, 1], got ", min_lr_ratio);
}

double LrSchedule::lr(int64_t step) const {
  TORCH_CHECK(step >= 0, "learning rate asked for step ", step);
  if (step < warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const int64_t decay_steps = total_steps - warmup_steps;
  const double progress =
      decay_steps == 0 ? 1.0
                       : std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps));
  const double min_lr = min_lr_ratio * base_lr;
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

} // namespace arl2::train
