// PhaseTimer (see phase_timer.h).
#include "train/phase_timer.h"

#include <torch/cuda.h>

namespace arl2::train {

void PhaseTimer::sync() const {
  if (device_.is_cuda()) {
    torch::cuda::synchronize(device_.index());
  }
}

void PhaseTimer::start() {
  if (on_) {
    sync();
    last_ = std::chrono::steady_clock::now();
  }
}

void PhaseTimer::mark(double& phase) {
  if (on_) {
    sync();
    const auto now = std::chrono::steady_clock::now();
    phase += std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }
}

} // namespace arl2::train
