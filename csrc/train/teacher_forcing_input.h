// The training input (docs/design.md, "Training stages"): a clip of clean latents becomes the teacher-forcing pair
// [clean | noisy]. Each block of each clip gets a timestep drawn uniformly from a list of noise levels and is noised to
// it with fresh noise; the clean half runs at the context timestep, as the clean pass that writes the caches does in
// generation. Stages 1 and 2 feed it to teacher and student at the sampler's steps (warped as the sampler runs them:
// FlowMatchSchedule::step_timesteps), where the hybrid must match the teacher; stage 0 trains the model to predict the
// noisy half's flow at every level of the table (table_timesteps), as a flow-matching model is trained, so that any
// step list can sample it.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "inference/flow_matching.h"

namespace arl2::train {

struct TeacherForcingInput {
  at::Tensor noisy;   // [B, C, F, H, W], the model's layout
  at::Tensor noisy_t; // [B, F], one timestep per block
  at::Tensor clean;   // [B, C, F, H, W]
  at::Tensor clean_t; // [B, F], the context timestep
  at::Tensor flow;    // [B, C, F, H, W], eps - x0 of the noisy half: what a perfect model predicts for it
};

// latents [B, F, C, H, W] (the dataset's layout) in the dtype the model runs in; F a multiple of
// frames_per_block; `timesteps` the levels to draw from, on `schedule`'s scale. Draws the timesteps and the
// noise with `generator` (CPU), so a run is reproducible.
TeacherForcingInput make_teacher_forcing_input(
    const at::Tensor& latents,
    const inference::FlowMatchSchedule& schedule,
    const std::vector<double>& timesteps,
    int64_t frames_per_block,
    double context_timestep,
    at::Generator generator);

// Stage 0's loss: the MSE between the prediction for the noisy half and its flow (TeacherForcingInput::flow),
// in float32.
at::Tensor flow_matching_loss(const at::Tensor& prediction, const at::Tensor& flow);

// Stage 2's loss: the MSE between the student's and the teacher's predictions on the noisy half, in
// float32.
at::Tensor distillation_loss(const at::Tensor& student_prediction, const at::Tensor& teacher_prediction);

} // namespace arl2::train
