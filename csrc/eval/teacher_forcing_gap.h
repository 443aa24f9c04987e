// How far a student's predictions are from the teacher's under teacher forcing, the setting stages 1 and 2
// train it in: both see the same true clip as their clean context and the same noisy copy of it, at each of the
// student's sampler timesteps in turn (every frame at that timestep), and each predicts the clean clip x0. The
// gap is the squared difference of the two x0, per frame and per timestep: where along the clip and at which
// noise level the student departs from what it was distilled from.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "inference/flow_matching.h"
#include "model/wan_dit.h"

namespace arl2::eval {

// A model and its prompts' text input [B, L, text_dim] (models may differ in text_dim).
struct PromptedModel {
  std::shared_ptr<const model::WanDiT> model;
  at::Tensor text;
};

struct TeacherForcingGap {
  std::vector<double> timesteps;        // the sampler's, as it runs them (warped)
  std::vector<double> mse_per_frame;    // [F], averaged over the timesteps
  std::vector<double> mse_per_timestep; // averaged over the frames
  double mean = 0;
};

// truth [B, C, F, H, W] (F whole blocks of frames_per_block); the noise comes from a CPU generator seeded with
// `seed`, one draw per timestep, shared by both models. The clean half runs at `context_timestep`, as the
// clean pass does in generation. Errors are in the pixels' units, computed in float64.
TeacherForcingGap teacher_forcing_gap(
    const PromptedModel& student,
    const PromptedModel& teacher,
    const inference::FlowMatchSchedule& schedule,
    double context_timestep,
    int64_t frames_per_block,
    const at::Tensor& truth,
    uint64_t seed);

} // namespace arl2::eval
