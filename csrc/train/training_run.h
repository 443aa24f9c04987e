// A training run around the Trainer: steps until train.steps, a progress line on stderr and a line of
// metrics.jsonl (loss, learning rate, grad norm, speed, the hybrid layers' diagnostics) every
// train.log_every steps, and a checkpoint every train.checkpoint_every steps and at the end, all in the
// run folder (train.out):
//
//   <out>/metrics.jsonl                          one JSON object per logged step, appended (resumes add on)
//   <out>/checkpoints/step_000500.safetensors    train/checkpoint.h
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "config/config.h"
#include "train/trainer.h"

namespace arl2::train {

// Creates `out`/checkpoints and the folders above it.
void make_run_folder(const std::string& out);

// The checkpoint path of `step` in `out`.
std::string checkpoint_path(const std::string& out, int64_t step);

// Runs `trainer` from where it stands to train.steps. A non-finite loss ends the run with the trainer's
// error (step, layer diagnostics, last checkpoint). Progress lines go to `progress`. In a data-parallel run
// only rank 0 writes the run folder and the progress lines. `on_step`, when given, sees every step's result
// once its checkpoint (if due) is written, on every rank; what it throws ends the run.
void run_training(
    Trainer& trainer,
    const config::TrainConfig& train,
    std::FILE* progress,
    const std::function<void(const StepResult&)>& on_step = {});

} // namespace arl2::train
