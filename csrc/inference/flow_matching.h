// The flow-matching noise schedule of Wan and its few-step distilled descendants (Self Forcing, Causal
// Forcing), and the per-block sampler they use: x_t = (1 - sigma) x0 + sigma eps, the model predicts the
// flow eps - x0, and each denoising step re-noises its x0 estimate to the next step's level with fresh
// noise (not an ODE step).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "io/fields.h"

namespace arl2::inference {

// How a denoising step reaches the next step's level from its x0 estimate.
enum class Sampler {
  // Re-noise x0 with fresh noise: Self Forcing's few-step sampler, for models distilled to jump to x0.
  kRenoise,
  // Re-noise x0 with the noise the model's prediction implies (eps = x0 + flow), the Euler step of the flow ODE
  // (DDIM): for models trained by flow matching at every level, whose x0 estimate at high noise is a mean of many
  // videos that fresh noise would blur rather than resolve (the toy teacher).
  kEuler,
};

// The samplers by name: "renoise", "euler".
io::Choice<Sampler> samplers();

struct FlowMatchOptions {
  double shift = 5.0;                 // sigma' = shift sigma / (1 + (shift - 1) sigma)
  int64_t num_train_timesteps = 1000; // entries of the timestep table
  // The distilled models' steps, on the 0..num_train_timesteps scale, strictly decreasing.
  std::vector<int64_t> denoising_steps = {1000, 750, 500, 250};
  // Map each step through the shifted table (Self Forcing's warp_denoising_step): 750 -> 937.5 at shift 5.
  bool warp = true;
  Sampler sampler = Sampler::kRenoise;
};

class FlowMatchSchedule {
 public:
  // Throws naming the field (inference.shift, inference.denoising_steps, ...) on invalid options.
  explicit FlowMatchSchedule(FlowMatchOptions options);

  const FlowMatchOptions& options() const {
    return options_;
  }
  // The timesteps the sampler runs, in order (warped when options.warp).
  const std::vector<double>& step_timesteps() const {
    return step_timesteps_;
  }
  // Every timestep of the shifted table, from 1000 sigma'(1) down: the levels a model is trained at from scratch.
  const std::vector<double>& table_timesteps() const {
    return table_timesteps_;
  }
  // sigma of timestep t: the entry of the table whose timestep is nearest to t. So t = 0, the clean
  // context's timestep, gets the table's smallest sigma (0.005 at shift 5), not 0.
  double sigma(double t) const;
  // (1 - sigma(t)) x0 + sigma(t) eps, in x0's dtype.
  at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& eps, double t) const;
  // x_t - sigma(t) flow, formed in float64 and returned in x_t's dtype.
  at::Tensor x0_from_flow(const at::Tensor& x_t, const at::Tensor& flow, double t) const;

 private:
  FlowMatchOptions options_;
  std::vector<double> table_timesteps_; // 1000 sigma' * ..., decreasing
  std::vector<double> table_sigmas_;
  std::vector<double> step_timesteps_;
};

// The model as the sampler sees it: predicted flow for the noisy block x_t at timestep t.
using FlowModel = std::function<at::Tensor(const at::Tensor& x_t, double t)>;

// Denoises one block from pure noise: x <- eps; for each step t_i, x0 = x_t - sigma_i model(x_t, t_i),
// and unless it is the last step, x <- add_noise(x0, eps', t_{i+1}) with eps' fresh noise (Sampler::kRenoise)
// or x0 + model(x_t, t_i) (Sampler::kEuler). Noise is drawn with `generator` in `shape` and `options` (dtype,
// device). Returns the final x0.
at::Tensor denoise_block(
    const FlowMatchSchedule& schedule,
    const FlowModel& model,
    at::IntArrayRef shape,
    const at::TensorOptions& options,
    std::optional<at::Generator> generator);

// The input x_t of the sampler's step `step` (0 <= step < the steps), as denoise_block forms it: pure noise
// for step 0; otherwise the steps before it run and their last x0 is re-noised to this step's level as the
// schedule's sampler does. The same draws as denoise_block's up to that point, so a block's trajectory can be
// entered at any step.
at::Tensor sampler_input(
    const FlowMatchSchedule& schedule,
    const FlowModel& model,
    int64_t step,
    at::IntArrayRef shape,
    const at::TensorOptions& options,
    std::optional<at::Generator> generator);

} // namespace arl2::inference
