// The trainer (DESIGN sections 7 and 9), one optimizer step at a time. Stages 1 and 2 distil: a frozen
// teacher and its hybrid student, which shares every base tensor with it (one copy of the base model).
//
//   stage 0 (teacher training): the plain model, from Wan's initialisation or train.init_from, predicts the
//     flow (noise - x0) of the noisy half of the teacher-forcing input from the clips; MSE on the noisy
//     half; trainable: every parameter (there is no frozen teacher: the model trained is the teacher);
//   stage 1 (layer alignment): each hybrid layer, fed the teacher's recorded self-attention input, learns
//     to match the teacher layer's output; trainable: the memory paths (a/b/gate projections, A_log,
//     dt_bias, phi maps);
//   stage 2 (distillation): student and teacher on the same teacher-forcing input, MSE on the noisy half;
//     trainable: the memory paths plus, with hybrid.lora, the LoRA adapters.
//
// A step runs train.grad_accumulation micro-batches of train.batch_size clips, clips the global gradient
// norm, sets the scheduled learning rate, steps AdamW and updates the EMA. In bfloat16 the base stays in
// bfloat16 and the trainable parameters in float32, under autocast. Checkpoints (checkpoint.h) resume a run
// bitwise; `train.init_from` starts a stage from an earlier stage's trainable parameters with a fresh
// optimizer (stage 0: from a stage-0 checkpoint or a model's weights file).
//
// Data-parallel (DESIGN section 8): with a dist::Group of W ranks the trainable parameters start from rank
// 0's, each rank reads its own share of the clips, the gradients are averaged over the ranks before clipping
// and the reported loss is the mean over the ranks. Every rank draws the timesteps and noise of all W ranks'
// micro-batches and keeps its own, so at batch_size 1 a world of W with grad_accumulation K steps exactly as
// one process with grad_accumulation W * K (up to float rounding).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <torch/optim/adamw.h>

#include "config/config.h"
#include "dist/group.h"
#include "inference/flow_matching.h"
#include "model/conversion.h"
#include "model/wan_dit.h"
#include "train/clip_dataset.h"
#include "train/ema.h"
#include "train/lr_schedule.h"
#include "train/phase_timer.h"
#include "train/sampler.h"
#include "train/teacher_forcing_input.h"

namespace arl2::train {

struct StepResult {
  int64_t step = 0;     // optimizer steps done, this one included
  double loss = 0;      // mean over the micro-batches
  double grad_norm = 0; // global L2 norm before clipping
  double lr = 0;
  std::vector<double> layer_losses; // stage 1: each hybrid layer's normalised MSE, mean over micro-batches
  PhaseTimes phases;                // while set_phase_timing is on; zeros otherwise
};

struct LayerDiagnostics {
  int64_t layer = 0;
  model::HybridDiagnostics values;
};

// The hybrid options the student of stage 1 or 2 is built with: the config's, with LoRA only in stage 2
// (stage 1's loss does not reach the adapters). Throws when the config has no hybrid section.
model::HybridOptions student_hybrid_options(const config::Config& config);

class Trainer {
 public:
  // Builds teacher, student, optimizer, schedule, EMA and sampler from `config` (validated here, each
  // error naming its key); `config_hash` goes into checkpoints and must match on resume. Without
  // inference.checkpoint the teacher's weights are drawn from train.seed (model::draw_random_weights);
  // stage 0 builds only the model it trains and refuses an inference.checkpoint.
  // On the CPU it makes the process (every intra-op thread) flush denormal floats to zero. `group` is the
  // data-parallel world (a world of one by default).
  Trainer(const config::Config& config, std::string config_hash, dist::Group group = {});

  // One optimizer step. Throws, before touching the parameters, when the loss or the gradient norm is NaN or
  // infinite: the message names the step, the hybrid layers' diagnostics on the failing micro-batch, the last
  // good checkpoint (see save_checkpoint) and the checkpoint, if any, that holds the failing step's parameters.
  StepResult step();

  int64_t steps_done() const {
    return step_;
  }
  // Records the hybrid layers' diagnostics in the next steps (costs a device sync per layer).
  void set_diagnostics(bool on);
  // Times the phases of the next steps into StepResult::phases, waiting for the device between them
  // (benchmarks only: the waits slow a step on CUDA).
  void set_phase_timing(bool on);
  // The last micro-batch's, while set_diagnostics is on.
  std::vector<LayerDiagnostics> diagnostics() const;

  // Written by rank 0; the other ranks wait for it at a barrier. A checkpoint is good when every value in it is
  // finite and a step from its parameters gave a finite loss and gradient norm, so that a run resumed from it
  // takes at least that step again; a finite checkpoint is not enough on its own: a diverging learning rate
  // leaves parameters of 1e29 whose next loss is infinite. So one that holds a NaN or an infinity (parameters,
  // AdamW's moments, EMA) is never written: every rank refuses it here, naming the tensor, and the run stops; and
  // the next step's finite loss and gradient norm make the written one good. Checks once per checkpoint, not per
  // step.
  void save_checkpoint(const std::string& path);
  // Continues the run saved at `path` exactly (its config hash must be this run's).
  void resume(const std::string& path);
  // The checkpoint last written or resumed from, "" if none.
  const std::string& last_checkpoint() const {
    return last_checkpoint_;
  }

  // The frozen teacher of stages 1 and 2.
  const model::WanDiT& teacher() const {
    TORCH_CHECK(teacher_, "stage 0 trains the teacher itself (student()) and has no frozen one");
    return *teacher_;
  }
  // The model that trains: the hybrid student, or in stage 0 the plain model.
  model::WanDiT& student() {
    return *student_;
  }
  // By state-dict name, as the optimizer and checkpoints see them.
  const std::vector<std::pair<std::string, at::Tensor>>& trainable() const {
    return trainable_;
  }
  // Elements of the trainable parameters, all together.
  int64_t trainable_numel() const;
  const Ema& ema() const {
    return *ema_;
  }
  const dist::Group& group() const {
    return group_;
  }
  const config::Config& config() const {
    return config_;
  }

 private:
  struct MicroBatch {
    TeacherForcingInput input; // drawn with rng_ from the clips
    at::Tensor text;           // [B, L, D]
  };
  struct MicroLoss {
    at::Tensor loss;         // scalar with gradient
    at::Tensor layer_losses; // stage 1 only: [layers], detached
  };

  // The models and trainable parameters of stage 0, and of stages 1 and 2; each sets options_.
  void build_teacher_training(const at::Device& device);
  void build_distillation(const at::Device& device);
  MicroBatch next_micro_batch();
  // The noise levels of the noisy half (teacher_forcing_input.h): the whole table in stage 0, the sampler's steps
  // after it.
  const std::vector<double>& noise_levels() const;
  // `phases`, when given, receives the teacher's and the student's time.
  MicroLoss micro_loss(const MicroBatch& batch, PhaseTimes* phases = nullptr);
  void init_from(const std::string& path);
  // `what` ("the loss") is `value`; re-runs `batch` (when given) for the layers' diagnostics.
  [[noreturn]] void fail_non_finite(const char* what, double value, const std::optional<MicroBatch>& batch);

  config::Config config_;
  std::string config_hash_;
  dist::Group group_;
  std::string base_fingerprint_; // of the teacher's weights, recorded in checkpoints; "" in stage 0
  at::TensorOptions options_;    // the base's dtype and device (stage 0: the master weights')
  bool autocast_ = false;
  std::shared_ptr<model::WanDiT> teacher_, student_; // no teacher_ in stage 0
  std::vector<int64_t> hybrid_layer_indices_;
  std::vector<std::pair<int64_t, std::shared_ptr<model::HybridAttention>>> hybrids_;
  std::vector<std::pair<std::string, at::Tensor>> trainable_;
  std::set<std::string> lora_names_; // the trainable parameters stage 2 adds to stage 1's
  std::vector<at::Tensor> trainable_tensors_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<Ema> ema_;
  LrSchedule schedule_;
  std::optional<inference::FlowMatchSchedule> flow_;
  std::unique_ptr<ClipDataset> dataset_;
  std::unique_ptr<ShardedSampler> sampler_;
  at::Generator rng_; // the teacher-forcing inputs' timesteps and noise
  int64_t step_ = 0;
  std::string last_checkpoint_;
  std::string good_checkpoint_;     // the newest checkpoint known good (see save_checkpoint), "" if none
  std::string unproven_checkpoint_; // written or resumed from at step_: no step has used its parameters yet
  PhaseTimer timer_;
};

} // namespace arl2::train
