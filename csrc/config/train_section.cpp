// The `train:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {

TrainConfig read_train_section(const YamlMap& s) {
  TrainConfig c;
  read_fields(s, c);
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
  if (c.prompt_dropout > 0 && c.stage != 0) {
    s.fail(
        "prompt_dropout",
        "prompt dropout trains a teacher (stage 0) for guidance, but train.stage is " + std::to_string(c.stage));
  }
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
  // How the rollouts fit the block size is checked with the inference section (config.cpp).
  if (c.stage == 3 && c.checkpoint_every % c.rollout_refresh_steps != 0) {
    s.fail(
        s.has("rollout_refresh_steps") ? "rollout_refresh_steps" : "checkpoint_every",
        "train.checkpoint_every (" + std::to_string(c.checkpoint_every) + ") must be a multiple of " +
            "train.rollout_refresh_steps (" + std::to_string(c.rollout_refresh_steps) +
            "): a resumed run makes its rollouts anew, so it resumes where new ones are due");
  }
  if (c.out.empty()) {
    s.fail("out", "expected the run folder's path, got an empty string");
  }
  return c;
}

} // namespace arl2::config
