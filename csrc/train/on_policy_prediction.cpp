// predict_after_rollout (see on_policy_prediction.h).
#include "train/on_policy_prediction.h"

#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "inference/generator.h"

namespace arl2::train {

OnPolicyPredictions predict_after_rollout(
    const model::WanDiT& student,
    const model::WanDiT& teacher,
    const inference::FlowMatchSchedule& schedule,
    double context_timestep,
    Rollout& rollout,
    const OnPolicyDraw& draw,
    PhaseTimer& timer,
    PhaseTimes& times) {
  const auto& window = rollout.window; // [B, C, F, H, W]
  const int64_t frames_per_block = window.size(2) / rollout.window_blocks;
  const auto at_t = [&](double t) {
    return at::full({window.size(0), frames_per_block}, t, rollout.text.options().dtype(at::kFloat));
  };
  std::vector<model::LayerCache> caches;
  for (const auto& cache : rollout.student) {
    caches.push_back(cache.clone());
    caches.back().keep_graph();
  }
  for (int64_t b = 0; b < rollout.window_blocks; ++b) {
    student.commit_cached(
        window.narrow(2, b * frames_per_block, frames_per_block), at_t(context_timestep), rollout.text, caches);
  }
  const auto student_flow = [&](const at::Tensor& x_t, double t) {
    return student.forward_cached(x_t, at_t(t), rollout.text, caches, /*write_cache=*/false);
  };
  at::Tensor x_t;
  {
    c10::NoGradGuard no_grad;
    auto shape = window.sizes().vec();
    shape[2] = frames_per_block;
    x_t = inference::sampler_input(
        schedule,
        student_flow,
        draw.step,
        shape,
        window.options(),
        inference::seeded_generator(window.device(), draw.seed));
  }
  timer.mark(times.student_forward_ms);
  const double t = schedule.step_timesteps()[draw.step];
  OnPolicyPredictions out;
  {
    c10::NoGradGuard no_grad;
    out.teacher = teacher.forward_cached(x_t, at_t(t), rollout.text, rollout.teacher, /*write_cache=*/false);
  }
  timer.mark(times.teacher_forward_ms);
  out.student = student_flow(x_t, t);
  timer.mark(times.student_forward_ms);
  return out;
}

} // namespace arl2::train
