// The learning rate of every step: linear warm-up to the base rate, then a cosine decay to
// min_lr_ratio times it at total_steps (held there after).
#pragma once

#include <cstdint>

namespace arl2::train {

struct LrSchedule {
  double base_lr = 1e-4;
  int64_t warmup_steps = 100;
  int64_t total_steps = 3000;
  double min_lr_ratio = 0.1;

  // Step 0 is the first optimizer step: it runs at base_lr / warmup_steps, step warmup_steps - 1 at
  // base_lr. Throws naming the field (train.lr, train.warmup_steps, ...) on invalid settings.
  double lr(int64_t step) const;
  void validate() const;
};

} // namespace arl2::train
