// A training run around the Trainer: steps until train.steps, a progress line on stderr and a line of
// metrics.jsonl (loss, learning rate, grad norm, speed, the hybrid layers' diagnostics) every
// train.log_every steps, and a checkpoint every train.checkpoint_every steps and at the end, all in the
// run folder (train.out, run_folder.h).
#pragma once

#include <cstdio>
#include <functional>

#include "train/run_folder.h"
#include "train/trainer.h"

namespace arl2::train {

// Runs `trainer` from where it stands to its config's train.steps. A non-finite loss ends the run with the
// trainer's error (step, layer diagnostics, last good checkpoint). Progress lines go to `progress`. `folder` is the
// open run folder on the rank that writes it and the progress lines (rank 0), nullptr on the others; metrics.jsonl
// keeps its lines up to the step the trainer stands at. `on_step`, when given, sees every step's result once its
// checkpoint (if due) is written, on every rank; what it throws ends the run.
void run_training(
    Trainer& trainer,
    const RunFolder* folder,
    std::FILE* progress,
    const std::function<void(const StepResult&)>& on_step = {});

} // namespace arl2::train
