// The teacher-forcing gap (see teacher_forcing_gap.h).
#include "eval/teacher_forcing_gap.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

namespace arl2::eval {
namespace {

// `side`'s prediction of x0 from `noisy` at timestep t, on the CPU in float64.
at::Tensor predicted_x0(
    const PromptedModel& side,
    const inference::FlowMatchSchedule& schedule,
    const at::Tensor& noisy,
    double t,
    const at::Tensor& clean,
    double context_timestep,
    int64_t frames_per_block) {
  const auto weights = side.model->parameters().front().options();
  const int64_t B = noisy.size(0), F = noisy.size(2);
  const auto timesteps = at::TensorOptions().dtype(at::kFloat).device(weights.device());
  const auto flow = side.model->forward_teacher_forcing(
      noisy.to(weights),
      at::full({B, F}, t, timesteps),
      clean.to(weights),
      at::full({B, F}, context_timestep, timesteps),
      side.text.to(weights.device()),
      frames_per_block);
  return schedule.x0_from_flow(noisy.to(at::kDouble), flow.to(at::kCPU, at::kDouble), t);
}

} // namespace

TeacherForcingGap teacher_forcing_gap(
    const PromptedModel& student,
    const PromptedModel& teacher,
    const inference::FlowMatchSchedule& schedule,
    double context_timestep,
    int64_t frames_per_block,
    const at::Tensor& truth,
    uint64_t seed) {
  TORCH_CHECK(student.model && teacher.model, "teacher forcing gap: a model is missing");
  TORCH_CHECK(truth.dim() == 5, "teacher forcing gap: the truth must be [B, C, F, H, W], got ", truth.sizes());
  at::NoGradGuard no_grad;
  const auto clean = truth.to(at::kCPU, at::kFloat);
  auto noise = at::make_generator<at::CPUGeneratorImpl>(seed);
  TeacherForcingGap gap;
  gap.timesteps = schedule.step_timesteps();
  std::vector<at::Tensor> per_timestep; // [F] each
  for (const double t : gap.timesteps) {
    const auto eps = at::randn(clean.sizes(), noise, clean.options());
    const auto noisy = schedule.add_noise(clean, eps, t);
    const auto s = predicted_x0(student, schedule, noisy, t, clean, context_timestep, frames_per_block);
    const auto r = predicted_x0(teacher, schedule, noisy, t, clean, context_timestep, frames_per_block);
    per_timestep.push_back((s - r).square().mean({0, 1, 3, 4}));
  }
  const auto mse = at::stack(per_timestep); // [T, F]
  const auto values = [](const at::Tensor& v) {
    const auto c = v.contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  gap.mse_per_frame = values(mse.mean(0));
  gap.mse_per_timestep = values(mse.mean(1));
  gap.mean = mse.mean().item<double>();
  return gap;
}

} // namespace arl2::eval
