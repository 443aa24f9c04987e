#include "train/teacher_forcing_input.h"

#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::train {

TeacherForcingInput make_teacher_forcing_input(
    const at::Tensor& latents,
    const inference::FlowMatchSchedule& schedule,
    const std::vector<double>& timesteps,
    int64_t frames_per_block,
    double context_timestep,
    at::Generator generator) {
  TORCH_CHECK(latents.dim() == 5, "latents must be [B, F, C, H, W], got ", latents.sizes());
  const int64_t B = latents.size(0), F = latents.size(1);
  TORCH_CHECK(
      frames_per_block > 0 && F % frames_per_block == 0,
      "the clip's ",
      F,
      " latent frames must be a whole number of blocks of inference.frames_per_block (",
      frames_per_block,
      ")");
  TORCH_CHECK(!timesteps.empty(), "teacher forcing: no timesteps to draw from");
  const int64_t blocks = F / frames_per_block;

  // timestep and sigma of every frame, drawn per (clip, block) on the host: a few dozen numbers
  const at::Tensor picks =
      at::randint(static_cast<int64_t>(timesteps.size()), {B, blocks}, generator, at::TensorOptions().dtype(at::kLong));
  std::vector<double> t(B * F), sigma(B * F);
  const auto pick = picks.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t f = 0; f < F; ++f) {
      const double step = timesteps[pick[b][f / frames_per_block]];
      t[b * F + f] = step;
      sigma[b * F + f] = schedule.sigma(step);
    }
  }
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor noisy_t = at::tensor(t, f64).view({B, F}).to(at::kFloat);
  const at::Tensor s = at::tensor(sigma, f64).view({B, F, 1, 1, 1}).to(latents.device());

  const at::Tensor clean = latents.permute({0, 2, 1, 3, 4}).contiguous();
  const at::Tensor eps = at::randn(latents.sizes(), generator, latents.options().device(at::kCPU)).to(latents.device());
  const at::Tensor x0 = latents.to(at::kDouble), noise = eps.to(at::kDouble);
  const auto in_model_layout = [&](const at::Tensor& x) {
    return x.to(latents.scalar_type()).permute({0, 2, 1, 3, 4}).contiguous();
  };
  return {
      in_model_layout((1 - s) * x0 + s * noise),
      noisy_t.to(latents.device()),
      clean,
      at::full({B, F}, context_timestep, at::TensorOptions().dtype(at::kFloat).device(latents.device())),
      in_model_layout(noise - x0)};
}

at::Tensor flow_matching_loss(const at::Tensor& prediction, const at::Tensor& flow) {
  TORCH_CHECK(
      prediction.sizes() == flow.sizes(),
      "flow matching: the prediction ",
      prediction.sizes(),
      " and the flow ",
      flow.sizes(),
      " differ in shape");
  return (prediction.to(at::kFloat) - flow.to(at::kFloat)).square().mean();
}

at::Tensor distillation_loss(const at::Tensor& student_prediction, const at::Tensor& teacher_prediction) {
  TORCH_CHECK(
      student_prediction.sizes() == teacher_prediction.sizes(),
      "distillation: the student's prediction ",
      student_prediction.sizes(),
      " and the teacher's ",
      teacher_prediction.sizes(),
      " differ in shape");
  return (student_prediction.to(at::kFloat) - teacher_prediction.detach().to(at::kFloat)).square().mean();
}

} // namespace arl2::train
