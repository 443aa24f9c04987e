// An exponential moving average of the trainable parameters, kept in float32 whatever the parameters'
// dtype: shadow = decay * shadow + (1 - decay) * param after every optimizer step from start_step on, a
// plain copy before it (Self Forcing starts its EMA at step 200).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace arl2::train {

class Ema {
 public:
  Ema(std::vector<std::pair<std::string, at::Tensor>> params, double decay, int64_t start_step);

  // Call after the optimizer step numbered `step` (0 for the first).
  void update(int64_t step);

  const std::vector<std::pair<std::string, at::Tensor>>& shadow() const {
    return shadow_;
  }
  // For restoring a checkpoint: copy into these tensors.
  std::vector<std::pair<std::string, at::Tensor>>& shadow() {
    return shadow_;
  }

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<std::pair<std::string, at::Tensor>> shadow_;
  double decay_;
  int64_t start_step_;
};

} // namespace arl2::train
