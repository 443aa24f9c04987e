// The `train:` section (see sections.h).
#include "config/sections.h"
#include "model/dtype_names.h"

namespace arl2::config {
namespace {

constexpr IntRange kPositive{1};
constexpr IntRange kCount{0};
constexpr IntRange kBatch{1, 1 << 20}; // a bound on clips a step, so that no tensor size overflows
constexpr NumberRange kNonNegative{0};
// AdamW's ranges, as torch.optim.AdamW checks them.
constexpr NumberRange kBeta{0, 1, false, true};

constexpr IntRange kBlocks{0, 1 << 20}; // bounds, like kBatch, that keep the memory estimate's products in range
constexpr IntRange kFrames{1, 1 << 30};

const std::vector<std::string> kRolloutKeys = {
    "rollout_frames",
    "rollout_context_blocks",
    "rollout_window_blocks",
    "rollout_buffer",
    "rollout_refresh_steps",
    "rollout_curriculum_steps",
    "rollout_clip_loss_weight"};

// Stage 3's keys; how they fit the block size is checked with the inference section (config.cpp).
void read_rollout_keys(const YamlMap& s, TrainConfig& c) {
  for (const auto& key : kRolloutKeys) {
    if (s.has(key) && c.stage != 3) {
      s.fail(key, "a stage-3 option (on-policy distillation), but train.stage is " + std::to_string(c.stage));
    }
  }
  s.read("rollout_frames", c.rollout_frames, kFrames);
  s.read("rollout_context_blocks", c.rollout_context_blocks, kBlocks);
  s.read("rollout_window_blocks", c.rollout_window_blocks, {1, kBlocks.max});
  s.read("rollout_buffer", c.rollout_buffer, {1, kBlocks.max});
  s.read("rollout_refresh_steps", c.rollout_refresh_steps, kPositive);
  s.read("rollout_curriculum_steps", c.rollout_curriculum_steps, kCount);
  s.read("rollout_clip_loss_weight", c.rollout_clip_loss_weight, kNonNegative);
  if (c.stage == 3 && c.checkpoint_every % c.rollout_refresh_steps != 0) {
    s.fail(
        s.has("rollout_refresh_steps") ? "rollout_refresh_steps" : "checkpoint_every",
        "train.checkpoint_every (" + std::to_string(c.checkpoint_every) + ") must be a multiple of " +
            "train.rollout_refresh_steps (" + std::to_string(c.rollout_refresh_steps) +
            "): a resumed run makes its rollouts anew, so it resumes where new ones are due");
  }
}

} // namespace

TrainConfig read_train_section(const YamlMap& s) {
  std::vector<std::string> known = {
      "stage",
      "steps",
      "lr",
      "warmup_steps",
      "min_lr_ratio",
      "weight_decay",
      "beta1",
      "beta2",
      "eps",
      "grad_clip",
      "grad_accumulation",
      "batch_size",
      "ema_decay",
      "ema_start_step",
      "seed",
      "checkpoint_every",
      "log_every",
      "activation_checkpointing",
      "dtype",
      "device",
      "out",
      "init_from",
      "layer_loss_weight",
      "prompt_dropout",
      "teacher_guidance_scale"};
  known.insert(known.end(), kRolloutKeys.begin(), kRolloutKeys.end());
  s.check_keys(known);
  TrainConfig c;
  s.read("stage", c.stage, {});
  if (c.stage < 0 || c.stage > 3) {
    s.fail(
        "stage",
        "expected 0 (teacher training), 1 (layer alignment), 2 (distillation) or 3 (on-policy distillation), got " +
            std::to_string(c.stage));
  }
  s.read("steps", c.steps, kPositive);
  s.read("warmup_steps", c.warmup_steps, kCount);
  s.read("grad_accumulation", c.grad_accumulation, kBatch);
  s.read("batch_size", c.batch_size, kBatch);
  s.read("ema_start_step", c.ema_start_step, kCount);
  s.read("checkpoint_every", c.checkpoint_every, kPositive);
  s.read("log_every", c.log_every, kPositive);
  s.read("lr", c.lr, {0, std::numeric_limits<double>::max(), true});
  s.read("min_lr_ratio", c.min_lr_ratio, {0, 1});
  s.read("weight_decay", c.weight_decay, kNonNegative);
  s.read("beta1", c.beta1, kBeta);
  s.read("beta2", c.beta2, kBeta);
  s.read("eps", c.eps, kNonNegative);
  s.read("grad_clip", c.grad_clip, kNonNegative); // 0: no clipping
  s.read("ema_decay", c.ema_decay, {0, 1, false, true});
  s.read("layer_loss_weight", c.layer_loss_weight, kNonNegative); // 0: no per-layer terms
  if (c.warmup_steps > c.steps) {
    s.fail(
        s.has("warmup_steps") ? "warmup_steps" : "steps",
        "train.warmup_steps (" + std::to_string(c.warmup_steps) + ") must not exceed train.steps (" +
            std::to_string(c.steps) + ")");
  }
  if (c.layer_loss_weight > 0 && c.stage != 2) {
    s.fail(
        "layer_loss_weight",
        "per-layer terms are a stage-2 option (stage 1's loss is the per-layer alignment itself), but train.stage is " +
            std::to_string(c.stage));
  }
  s.read("prompt_dropout", c.prompt_dropout, {0, 1, false, true});
  if (c.prompt_dropout > 0 && c.stage != 0) {
    s.fail(
        "prompt_dropout",
        "prompt dropout trains a teacher (stage 0) for guidance, but train.stage is " + std::to_string(c.stage));
  }
  s.read("teacher_guidance_scale", c.teacher_guidance_scale, {0, 100});
  if (c.teacher_guidance_scale != 1.0 && c.stage != 2) {
    s.fail(
        "teacher_guidance_scale",
        "a guided teacher gives stage 2's targets, but train.stage is " + std::to_string(c.stage));
  }
  if (c.teacher_guidance_scale != 1.0 && c.layer_loss_weight > 0) {
    s.fail(
        "teacher_guidance_scale",
        "a guided teacher has no one attention per layer to align to: set train.layer_loss_weight to 0");
  }
  read_rollout_keys(s, c);
  auto seed = static_cast<int64_t>(c.seed);
  s.read("seed", seed, kCount);
  c.seed = static_cast<uint64_t>(seed);
  s.read("activation_checkpointing", c.activation_checkpointing);
  if (s.has("dtype")) {
    c.dtype = s.choice("dtype", model::dtype_names());
  }
  s.read("device", c.device);
  s.read("out", c.out);
  if (c.out.empty()) {
    s.fail("out", "expected the run folder's path, got an empty string");
  }
  s.read("init_from", c.init_from);
  return c;
}

} // namespace arl2::config
