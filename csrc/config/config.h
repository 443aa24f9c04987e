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
// The model section is required (an empty file is refused). Unknown sections or keys, keys given twice, values of
// the wrong type or out of their field's range (sections.h) are errors naming the key path and the line, and so
// is a hybrid section under train.stage 0 (which trains the plain model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/generator_options.h"
#include "model/config.h"
#include "model/conversion.h"

namespace arl2::config {

struct InferenceConfig {
  inference::GeneratorOptions generator;
  std::string dtype = "bfloat16"; // float32, float64 or bfloat16
  std::string device = "cuda";
  std::string checkpoint;        // the teacher's weights (Wan names), loaded before conversion; empty: random
  std::string hybrid_checkpoint; // the converted model's weights (as save_weights writes them), loaded after
};

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

struct DataConfig {
  std::string path; // a folder of safetensors shards (train/clip_dataset.h)
};

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
