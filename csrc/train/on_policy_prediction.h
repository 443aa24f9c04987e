// Stage 3's micro-batch on one rollout (trainer.h, rollout.h): the student writes the window's blocks again,
// with gradient, from the caches the rollout left (caches that keep their graph, so that the memory path's write
// parameters learn from what they wrote), then predicts the block after the history at the input of one sampler
// step of its own trajectory: the steps before it run on fresh noise without gradient, reading the same caches.
// The teacher predicts at the same input and timestep from its caches of the same student-made history.
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "inference/flow_matching.h"
#include "model/wan_dit.h"
#include "train/phase_timer.h"
#include "train/rollout.h"

namespace arl2::train {

// What a micro-batch draws with the trainer's RNG.
struct OnPolicyDraw {
  int64_t rollout = 0; // which of the buffer's rollouts
  int64_t step = 0;    // the sampler step whose input the models predict at (0: pure noise)
  uint64_t seed = 0;   // the noise of the student's steps before it
};

struct OnPolicyPredictions {
  at::Tensor student; // with gradient
  at::Tensor teacher; // without
};

// `timer` marks the student's time (the window, the steps before `draw.step` and the prediction) into
// times.student_forward_ms and the teacher's into times.teacher_forward_ms. `rollout`'s caches keep what they hold: the
// student's window is written to copies of them.
OnPolicyPredictions predict_after_rollout(
    const model::WanDiT& student,
    const model::WanDiT& teacher,
    const inference::FlowMatchSchedule& schedule,
    double context_timestep,
    Rollout& rollout,
    const OnPolicyDraw& draw,
    PhaseTimer& timer,
    PhaseTimes& times);

} // namespace arl2::train
