// The `train:` section (see sections.h).
#include "config/sections.h"

#include <utility>

namespace arl2::config {

TrainConfig read_train_section(const YamlMap& s) {
  s.check_keys(
      {"stage",     "steps",          "lr",   "warmup_steps",     "min_lr_ratio",      "weight_decay",
       "beta1",     "beta2",          "eps",  "grad_clip",        "grad_accumulation", "batch_size",
       "ema_decay", "ema_start_step", "seed", "checkpoint_every", "log_every",         "activation_checkpointing",
       "dtype",     "device",         "out",  "init_from",        "layer_loss_weight"});
  TrainConfig c;
  const std::pair<const char*, int64_t*> integers[] = {
      {"stage", &c.stage},
      {"steps", &c.steps},
      {"warmup_steps", &c.warmup_steps},
      {"grad_accumulation", &c.grad_accumulation},
      {"batch_size", &c.batch_size},
      {"ema_start_step", &c.ema_start_step},
      {"checkpoint_every", &c.checkpoint_every},
      {"log_every", &c.log_every}};
  for (const auto& [key, field] : integers) {
    if (s.has(key)) {
      *field = s.integer(key);
    }
  }
  if (s.has("stage") && (c.stage < 0 || c.stage > 2)) {
    s.fail(
        "stage",
        "expected 0 (teacher training), 1 (layer alignment) or 2 (distillation), got " + std::to_string(c.stage));
  }
  for (const char* key : {"grad_accumulation", "batch_size", "checkpoint_every", "log_every"}) {
    if (s.has(key) && s.integer(key) <= 0) {
      s.fail(key, "expected a positive integer, got " + std::to_string(s.integer(key)));
    }
  }
  const std::pair<const char*, double*> numbers[] = {
      {"lr", &c.lr},
      {"min_lr_ratio", &c.min_lr_ratio},
      {"weight_decay", &c.weight_decay},
      {"beta1", &c.beta1},
      {"beta2", &c.beta2},
      {"eps", &c.eps},
      {"grad_clip", &c.grad_clip},
      {"ema_decay", &c.ema_decay},
      {"layer_loss_weight", &c.layer_loss_weight}};
  for (const auto& [key, field] : numbers) {
    if (s.has(key)) {
      *field = s.number(key);
    }
  }
  if (s.has("grad_clip") && !(c.grad_clip >= 0)) {
    s.fail("grad_clip", "expected a norm >= 0 (0: no clipping), got " + std::to_string(c.grad_clip));
  }
  if (s.has("layer_loss_weight") && !(c.layer_loss_weight >= 0)) {
    s.fail(
        "layer_loss_weight",
        "expected a weight >= 0 (0: no per-layer terms), got " + std::to_string(c.layer_loss_weight));
  }
  if (s.has("layer_loss_weight") && c.layer_loss_weight > 0 && c.stage != 2) {
    s.fail(
        "layer_loss_weight",
        "per-layer terms are a stage-2 option (stage 1's loss is the per-layer alignment itself), but train.stage is " +
            std::to_string(c.stage));
  }
  if (s.has("seed")) {
    const int64_t seed = s.integer("seed");
    if (seed < 0) {
      s.fail("seed", "expected a non-negative integer, got " + std::to_string(seed));
    }
    c.seed = static_cast<uint64_t>(seed);
  }
  if (s.has("activation_checkpointing")) {
    c.activation_checkpointing = s.boolean("activation_checkpointing");
  }
  if (s.has("dtype")) {
    c.dtype = s.choice("dtype", {"float32", "float64", "bfloat16"});
  }
  const std::pair<const char*, std::string*> strings[] = {
      {"device", &c.device}, {"out", &c.out}, {"init_from", &c.init_from}};
  for (const auto& [key, field] : strings) {
    if (s.has(key)) {
      *field = s.string(key);
    }
  }
  return c;
}

} // namespace arl2::config
