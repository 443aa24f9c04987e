// Helpers of the training tests (test_trainer.cpp, test_teacher_training.cpp, test_base_weights.cpp,
// test_export.cpp): random clips, the tiny model's training config, the losses of some steps, and the
// resume check.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
#include "io/safetensors.h"
#include "temp_dir.h"
#include "train/trainer.h"

namespace arl2::test {

// `clips` random clips of 4 latent frames (2 blocks of 2) of 16 x 4 x 4, with text 8 x 32.
inline void write_clips(const TempDir& dir, int64_t clips) {
  torch::manual_seed(7);
  io::save_safetensors(
      dir.file("clips.safetensors"),
      {{"latents", torch::randn({clips, 4, 16, 4, 4})}, {"text_embeddings", torch::randn({clips, 8, 32})}});
}

inline std::string tiny_yaml(int stage, const std::string& data, const std::string& extra_train = "") {
  return "model:\n  preset: tiny\n"
         "hybrid:\n  layers: [0]\n  lora: true\n"
         "inference:\n  frames_per_block: 2\n  latent_height: 4\n  latent_width: 4\n"
         "train:\n  stage: " +
         std::to_string(stage) +
         "\n  steps: 50\n  lr: 3.0e-3\n  warmup_steps: 2\n  ema_decay: 0.9\n  dtype: float32\n  device: cpu\n"
         "  seed: 5\n" +
         extra_train + "data:\n  path: " + data + "\n";
}

inline config::Config tiny_config(int stage, const std::string& data, const std::string& extra_train = "") {
  return config::parse_config(tiny_yaml(stage, data, extra_train), "test.yaml");
}

// The losses of `steps` steps of `trainer`.
inline std::vector<double> losses(train::Trainer& trainer, int steps) {
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) {
    out.push_back(trainer.step().loss);
  }
  return out;
}

// The mean of v[from, from + n).
inline double mean(const std::vector<double>& v, size_t from, size_t n) {
  double s = 0;
  for (size_t i = from; i < from + n; ++i) {
    s += v[i];
  }
  return s / static_cast<double>(n);
}

// N = 5 steps in one run equal 2 steps, a checkpoint at `checkpoint`, a resume and 3 more, bit for bit
// in the trainable parameters and their EMA.
inline void check_resume_is_bitwise(const config::Config& config, const std::string& checkpoint) {
  train::Trainer straight(config, "hash");
  losses(straight, 5);
  {
    train::Trainer first(config, "hash");
    losses(first, 2);
    first.save_checkpoint(checkpoint);
  }
  train::Trainer resumed(config, "hash");
  resumed.resume(checkpoint);
  CHECK(resumed.steps_done() == 2);
  losses(resumed, 3);
  REQUIRE(resumed.trainable().size() == straight.trainable().size());
  for (size_t i = 0; i < straight.trainable().size(); ++i) {
    INFO(straight.trainable()[i].first);
    CHECK(torch::equal(resumed.trainable()[i].second, straight.trainable()[i].second));
    CHECK(torch::equal(resumed.ema().shadow()[i].second, straight.ema().shadow()[i].second));
  }
}

} // namespace arl2::test
