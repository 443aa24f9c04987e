// Where a training step's time goes, for benchmarks (`arl2 bench train`). Off, as in training, it does
// nothing: no device syncs slow the step. On, each mark waits for the device, so that the work queued
// since the previous mark counts in full to the phase it names.
#pragma once

#include <chrono>

#include <c10/core/Device.h>

namespace arl2::train {

struct PhaseTimes {
  double rollout_ms = 0;         // stage 3: the rollouts that make the buffer anew (0 in the steps between)
  double data_ms = 0;            // clips to the device, the teacher-forcing input (stage 3: the draws)
  double teacher_forward_ms = 0; // the teacher's pass (stage 1: the recording pass)
  double student_forward_ms = 0; // the student's pass and the loss (stage 1: the hybrid layers' alignment)
  double backward_ms = 0;        // with activation checkpointing, the blocks' recompute too
  double all_reduce_ms = 0;      // a data-parallel run's gradient and loss all-reduce (0 in a world of one)
  double optimizer_ms = 0;       // clipping, AdamW, EMA
};

class PhaseTimer {
 public:
  void set_enabled(bool on, c10::Device device) {
    on_ = on;
    device_ = device;
  }
  bool enabled() const {
    return on_;
  }
  // Starts the clock at the device's current end of work.
  void start();
  // Adds the time since the last start or mark to `phase`.
  void mark(double& phase);

 private:
  void sync() const;
  bool on_ = false;
  c10::Device device_ = c10::kCPU;
  std::chrono::steady_clock::time_point last_;
};

} // namespace arl2::train
