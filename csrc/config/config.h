// A run's configuration, read from YAML into plain structs, one per section:
//
//   model:             # the DiT: a preset, then any ModelConfig field overriding it
//     preset: wan2.1-t2v-1.3b
//   hybrid:            # optional: which layers become hybrid (layers, or ratio + policy), and LoRA
//     ratio: 0.75
//     policy: first
//     lora: true
//     ffn_lora_all_layers: false  # true: the FFN adapters on every layer, not only the hybrid ones
//   inference:         # optional: how `arl2 generate` runs (defaults: Self Forcing's sampler, bf16 on CUDA)
//     frames_per_block: 3
//     device: cuda
//   train:             # optional: how `arl2 train` trains (stage 0: the teacher itself; 1, 2 or 3: the
//     stage: 1         # hybrid distilled from it), the optimizer, the run folder
//   data:              # optional: the clips it trains on
//     path: clips/
//
// Training reuses the inference section for what both share: the teacher's weights (checkpoint), the
// block size and the sampler whose step list the training input draws its timesteps from.
//
// Each section's keys are its struct's field table (io/fields.h: visit_fields beside each struct), which the reader,
// dump_config, the metrics and the Python bindings all walk. The model section is required (an empty file is
// refused). Unknown sections or keys, keys given twice, values of the wrong type or out of their field's range are
// errors naming the key path and the line, and so is a hybrid section under train.stage 0 (which trains the plain
// model).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "inference/generator_options.h"
#include "io/fields.h"
#include "model/config.h"
#include "model/conversion.h"
#include "model/dtype_names.h"

namespace arl2::config {

struct InferenceConfig {
  inference::GeneratorOptions generator;
  std::string dtype = "bfloat16"; // float32, float64 or bfloat16
  std::string device = "cuda";
  std::string checkpoint;        // the teacher's weights (Wan names), loaded before conversion; empty: random
  std::string hybrid_checkpoint; // the converted model's weights (as save_weights writes them), loaded after

  bool random_weights() const {
    return checkpoint.empty() && hybrid_checkpoint.empty();
  }
};

// The inference section's keys: the generator's, then the precision, the device and the weights.
template <typename Self, typename Visitor, io::TableOf<Self, InferenceConfig> = 0>
void visit_fields(Self& c, Visitor&& field) {
  visit_fields(c.generator, field);
  field("dtype", c.dtype, io::one_of(model::dtype_names()));
  field("device", c.device, io::AnyValue{});
  field("checkpoint", c.checkpoint, io::AnyValue{});
  field("hybrid_checkpoint", c.hybrid_checkpoint, io::AnyValue{});
}

struct TrainConfig {
  // 0: teacher training (every parameter of the plain model, flow matching against the clips);
  // 1: layer alignment (the memory paths); 2: distillation (adds LoRA when hybrid.lora); 3: on-policy
  // distillation (stage 2's parameters, on the student's own rollouts)
  int64_t stage = 1;
  int64_t steps = 3000;
  double lr = 1e-4;
  int64_t warmup_steps = 100;
  double min_lr_ratio = 0.1; // the cosine ends at min_lr_ratio * lr
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double grad_clip = 1.0; // max global grad norm; 0: no clipping
  // Stage 2: the weight of stage 1's per-layer alignment loss (each hybrid layer against the teacher's
  // softmax attention, on the teacher's input) added to the distillation loss; 0: none.
  double layer_loss_weight = 0;
  // Stage 0: the probability that a clip's prompt is replaced by the empty one (the all-zero embedding), so
  // that the teacher also learns the unconditional flow that classifier-free guidance needs
  // (inference.guidance_scale); 0: never.
  double prompt_dropout = 0;
  // Stage 2: the teacher's targets under classifier-free guidance at this scale (inference.guidance_scale's
  // formula; the teacher must have been trained with train.prompt_dropout), so that the student learns to
  // sample unguided what the teacher samples guided; 1: the teacher's prediction under the prompt alone.
  double teacher_guidance_scale = 1.0;
  // Stage 3 (train/trainer.h): the student rolls itself out from the clips' prompts and learns the teacher's
  // prediction for the block after its own history, at inputs on its own denoising trajectory.
  int64_t rollout_frames = 84;        // the longest rollout in latent frames, whole blocks: its history and the
                                      // block predicted after it (84: four 21-frame clips)
  int64_t rollout_context_blocks = 0; // a rollout's first blocks taken from its clip; 0: from the prompt alone
  int64_t rollout_window_blocks = 1;  // the history's last blocks, written again with gradient in each micro-batch
  int64_t rollout_buffer = 4;         // rollouts kept, each of batch_size clips; a micro-batch draws one
  int64_t rollout_refresh_steps = 10; // steps between new rollouts (checkpoint_every must be a multiple)
  // Steps over which the longest rollout grows from the shortest (context, window and predicted block) to
  // rollout_frames; 0: every length from the first step. Each rollout's length is drawn up to the longest.
  int64_t rollout_curriculum_steps = 0;
  // The weight of stage 2's loss (the teacher's prediction at noised clips after their true history) added to
  // each micro-batch's on-policy loss, so that the student stays anchored to the clips; 0: none.
  double rollout_clip_loss_weight = 0;
  int64_t grad_accumulation = 1;
  int64_t batch_size = 1; // clips per micro-batch
  double ema_decay = 0.999;
  int64_t ema_start_step = 0;
  uint64_t seed = 0;
  int64_t checkpoint_every = 500; // and at the last step
  int64_t log_every = 10;
  bool activation_checkpointing = false; // recompute each DiT block of the student in the backward
  // The frozen base's; trainable parameters stay float32 (in stage 0 all of them, under bfloat16 autocast).
  std::string dtype = "bfloat16";
  std::string device = "cuda";
  std::string out = "runs/train"; // the run folder: config, metrics, checkpoints
  // A checkpoint of an earlier stage whose trainable parameters start this one; in stage 0, a stage-0
  // checkpoint or a model's weights file (Wan names).
  std::string init_from;
};

// The train section's keys, `stage` first, so that stage 3's keys are refused under another stage. How values fit
// together (warmup within the steps, a stage's options under that stage) is checked by its reader.
template <typename Self, typename Visitor, io::TableOf<Self, TrainConfig> = 0>
void visit_fields(Self& t, Visitor&& field) {
  constexpr io::IntRange kPositive{1};
  constexpr io::IntRange kCount{0};
  constexpr io::IntRange kBatch{1, 1 << 20}; // bounds on clips and blocks that keep the memory estimate in range
  constexpr io::IntRange kBlocks{0, 1 << 20};
  constexpr io::NumberRange kNonNegative{0};
  constexpr io::NumberRange kBeta{0, 1, false, true}; // AdamW's ranges, as torch.optim.AdamW checks them
  field(
      "stage",
      t.stage,
      io::IntRange{0, 3, "0 (teacher training), 1 (layer alignment), 2 (distillation) or 3 (on-policy distillation)"});
  field("steps", t.steps, kPositive);
  field("lr", t.lr, io::NumberRange{0, std::numeric_limits<double>::max(), true});
  field("warmup_steps", t.warmup_steps, kCount);
  field("min_lr_ratio", t.min_lr_ratio, io::NumberRange{0, 1});
  field("weight_decay", t.weight_decay, kNonNegative);
  field("beta1", t.beta1, kBeta);
  field("beta2", t.beta2, kBeta);
  field("eps", t.eps, kNonNegative);
  field("grad_clip", t.grad_clip, kNonNegative);
  field("layer_loss_weight", t.layer_loss_weight, kNonNegative);
  // Left out of run folders' configs at their defaults, so configs from before these keys hash as they did.
  field("prompt_dropout", t.prompt_dropout, io::NumberRange{0, 1, false, true}, io::dumped_when(t.prompt_dropout > 0));
  field(
      "teacher_guidance_scale",
      t.teacher_guidance_scale,
      io::NumberRange{0, 100},
      io::dumped_when(t.teacher_guidance_scale != 1.0));
  const auto on_policy = [&t] {
    return io::applies_when(
        t.stage == 3, "a stage-3 option (on-policy distillation), but train.stage is " + std::to_string(t.stage));
  };
  field("rollout_frames", t.rollout_frames, io::IntRange{1, 1 << 30}, on_policy());
  field("rollout_context_blocks", t.rollout_context_blocks, kBlocks, on_policy());
  field("rollout_window_blocks", t.rollout_window_blocks, io::IntRange{1, kBlocks.max}, on_policy());
  field("rollout_buffer", t.rollout_buffer, io::IntRange{1, kBlocks.max}, on_policy());
  field("rollout_refresh_steps", t.rollout_refresh_steps, kPositive, on_policy());
  field("rollout_curriculum_steps", t.rollout_curriculum_steps, kCount, on_policy());
  field("rollout_clip_loss_weight", t.rollout_clip_loss_weight, kNonNegative, on_policy());
  field("grad_accumulation", t.grad_accumulation, kBatch);
  field("batch_size", t.batch_size, kBatch);
  field("ema_decay", t.ema_decay, io::NumberRange{0, 1, false, true});
  field("ema_start_step", t.ema_start_step, kCount);
  field("seed", t.seed, kCount);
  field("checkpoint_every", t.checkpoint_every, kPositive);
  field("log_every", t.log_every, kPositive);
  field("activation_checkpointing", t.activation_checkpointing, io::AnyValue{});
  field("dtype", t.dtype, io::one_of(model::dtype_names()));
  field("device", t.device, io::AnyValue{});
  field("out", t.out, io::AnyValue{});
  field("init_from", t.init_from, io::AnyValue{});
}

struct DataConfig {
  std::string path; // a folder of safetensors shards (train/clip_dataset.h)
};

template <typename Self, typename Visitor, io::TableOf<Self, DataConfig> = 0>
void visit_fields(Self& c, Visitor&& field) {
  field("path", c.path, io::AnyValue{});
}

struct Config {
  model::ModelConfig model;                   // validated
  std::optional<model::HybridOptions> hybrid; // absent: the plain (teacher) model
  InferenceConfig inference;
  TrainConfig train;
  DataConfig data;
};

// Reads and validates `path`; every error names the file. `overrides` ("inference.seed=3", the
// command line's --set) replace or add values at a dotted key path before the file is read, as YAML.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from YAML text; `source` names it in errors.
Config parse_config(const std::string& yaml, const std::string& source, const std::vector<std::string>& overrides = {});

// Every value of `config`, defaults included, as YAML that parse_config reads back to the same config: what
// a run folder keeps of the configuration that ran.
std::string dump_config(const Config& config);

// FNV-1a of dump_config, in hex: which configuration a checkpoint was written under.
std::string config_hash(const Config& config);

} // namespace arl2::config
