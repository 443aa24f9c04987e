#include "inference/flow_matching.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::inference {

FlowMatchSchedule::FlowMatchSchedule(FlowMatchOptions options) : options_(std::move(options)) {
  const int64_t n = options_.num_train_timesteps;
  TORCH_CHECK(n > 0, "inference.num_train_timesteps must be positive, got ", n);
  TORCH_CHECK(
      std::isfinite(options_.shift) && options_.shift > 0,
      "inference.shift must be a positive number, got ",
      options_.shift);
  const auto& steps = options_.denoising_steps;
  TORCH_CHECK(!steps.empty(), "inference.denoising_steps must list at least one step");
  for (size_t i = 0; i < steps.size(); ++i) {
    TORCH_CHECK(
        steps[i] > 0 && steps[i] <= n, "inference.denoising_steps[", i, "] must be in (0, ", n, "], got ", steps[i]);
    TORCH_CHECK(
        i == 0 || steps[i] < steps[i - 1],
        "inference.denoising_steps must be strictly decreasing, got ",
        steps[i - 1],
        " then ",
        steps[i]);
  }

  // sigma_i = 1 - i / n for i = 0 .. n - 1 (linspace(1, 0, n + 1) without its last entry), then shifted.
  table_sigmas_.resize(n);
  table_timesteps_.resize(n);
  const double s = options_.shift;
  for (int64_t i = 0; i < n; ++i) {
    const double sigma = 1.0 - static_cast<double>(i) / static_cast<double>(n);
    table_sigmas_[i] = s * sigma / (1.0 + (s - 1.0) * sigma);
    table_timesteps_[i] = table_sigmas_[i] * static_cast<double>(n);
  }
  for (const int64_t step : steps) {
    // warped: entry n - step of the table (step n is its first entry, sigma 1)
    step_timesteps_.push_back(options_.warp ? table_timesteps_[n - step] : static_cast<double>(step));
  }
}

double FlowMatchSchedule::sigma(double t) const {
  // the table decreases: find the first entry <= t, then take the nearer of it and its predecessor
  const auto it = std::lower_bound(table_timesteps_.begin(), table_timesteps_.end(), t, std::greater<double>());
  size_t i = static_cast<size_t>(it - table_timesteps_.begin());
  if (i == table_timesteps_.size()) {
    i -= 1;
  } else if (i > 0 && table_timesteps_[i - 1] - t <= t - table_timesteps_[i]) {
    i -= 1; // ties go to the earlier entry, as argmin does
  }
  return table_sigmas_[i];
}

at::Tensor FlowMatchSchedule::add_noise(const at::Tensor& x0, const at::Tensor& eps, double t) const {
  TORCH_CHECK(x0.sizes() == eps.sizes(), "add_noise: eps must have x0's shape ", x0.sizes(), ", got ", eps.sizes());
  const double s = sigma(t);
  return ((1.0 - s) * x0 + s * eps).to(x0.scalar_type());
}

at::Tensor FlowMatchSchedule::x0_from_flow(const at::Tensor& x_t, const at::Tensor& flow, double t) const {
  TORCH_CHECK(
      x_t.sizes() == flow.sizes(),
      "x0_from_flow: the model's flow must have x_t's shape ",
      x_t.sizes(),
      ", got ",
      flow.sizes());
  return (x_t.to(at::kDouble) - sigma(t) * flow.to(at::kDouble)).to(x_t.scalar_type());
}

io::Choice<Sampler> samplers() {
  return {{{"renoise", Sampler::kRenoise}, {"euler", Sampler::kEuler}}};
}

at::Tensor sampler_input(
    const FlowMatchSchedule& schedule,
    const FlowModel& model,
    int64_t step,
    at::IntArrayRef shape,
    const at::TensorOptions& options,
    std::optional<at::Generator> generator) {
  const auto& steps = schedule.step_timesteps();
  TORCH_CHECK(
      step >= 0 && step < static_cast<int64_t>(steps.size()),
      "sampler_input: step ",
      step,
      " is not one of the sampler's ",
      steps.size());
  const bool euler = schedule.options().sampler == Sampler::kEuler;
  at::Tensor x = at::randn(shape, generator, options);
  for (int64_t i = 0; i < step; ++i) {
    const auto flow = model(x, steps[i]);
    const auto x0 = schedule.x0_from_flow(x, flow, steps[i]);
    const auto eps = euler ? (x0 + flow).to(x0.scalar_type()) : at::randn(shape, generator, options);
    x = schedule.add_noise(x0, eps, steps[i + 1]);
  }
  return x;
}

at::Tensor denoise_block(
    const FlowMatchSchedule& schedule,
    const FlowModel& model,
    at::IntArrayRef shape,
    const at::TensorOptions& options,
    std::optional<at::Generator> generator) {
  const auto& steps = schedule.step_timesteps();
  const auto last = static_cast<int64_t>(steps.size()) - 1;
  const auto x = sampler_input(schedule, model, last, shape, options, generator);
  return schedule.x0_from_flow(x, model(x, steps[last]), steps[last]);
}

} // namespace arl2::inference
