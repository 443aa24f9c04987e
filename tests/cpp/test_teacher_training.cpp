// Stage 0, teacher training (train/trainer.h) of the toy preset on toy clips on the CPU: every parameter of
// the plain model trains and the loss falls, the exported file loads as a teacher that predicts exactly what
// the trained model does, a resumed run continues bitwise, train.init_from takes a model file or a stage-0
// checkpoint, and the combinations that cannot work are refused naming the key or the file.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "temp_dir.h"
#include "toy/clips.h"
#include "train/clip_dataset.h"
#include "train/teacher.h"
#include "train/trained_hybrid.h"
#include "train/trained_teacher.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

// `clips` toy clips of 4 frames (2 blocks of 2) of 16 x 16 pixels, with the toy text (16 x 32).
void write_toy_clips(const TempDir& dir, int64_t clips) {
  toy::ToyClipOptions options;
  options.frames = 4;
  options.scene.size = 16;
  const auto toy = toy::make_toy_clips(/*seed=*/11, 0, clips, options);
  train::save_clip_shard(train::shard_path(dir.path, 0), toy.pixels, toy.text_embeddings);
}

std::string toy_yaml(const std::string& data, const std::string& extra_train = "") {
  return "model:\n  preset: toy\n"
         "inference:\n  shift: 1.0\n  frames_per_block: 2\n  latent_height: 16\n  latent_width: 16\n"
         "train:\n  stage: 0\n  steps: 40\n  lr: 3.0e-3\n  warmup_steps: 2\n  ema_decay: 0.9\n"
         "  dtype: float32\n  device: cpu\n  seed: 5\n" +
         extra_train + "data:\n  path: " + data + "\n";
}

config::Config toy_config(const std::string& data, const std::string& extra_train = "") {
  return config::parse_config(toy_yaml(data, extra_train), "toy.yaml");
}

// The model's prediction for the noisy half of one fixed teacher-forcing input.
torch::Tensor predict(const model::WanDiT& model) {
  torch::manual_seed(3);
  const auto clean = torch::randn({1, 3, 4, 16, 16}), noisy = torch::randn({1, 3, 4, 16, 16});
  const auto text = torch::randn({1, 16, 32});
  const auto t = torch::full({1, 4}, 750.0), t0 = torch::zeros({1, 4});
  torch::NoGradGuard no_grad;
  return model.forward_teacher_forcing(noisy, t, clean, t0, text, 2);
}

// A toy config with the hybrid section of stages 1 and 2.
config::Config hybrid_config(int stage, const std::string& data, const std::string& extra) {
  auto yaml = toy_yaml(data, extra);
  yaml.replace(yaml.find("  stage: 0"), 10, "  stage: " + std::to_string(stage));
  return config::parse_config(yaml + "hybrid:\n  ratio: 0.75\n  lora: true\n", "toy.yaml");
}

TEST_CASE("stage 0 trains every parameter of the plain model and the loss falls", "[train][teacher]") {
  TempDir data, out;
  write_toy_clips(data, 4);
  const auto config = toy_config(data.path);
  train::Trainer trainer(config, "hash");
  const auto named = trainer.student().named_parameters();
  CHECK(trainer.trainable().size() == named.size());
  for (const auto& [name, p] : trainer.trainable()) {
    INFO(name);
    CHECK(p.requires_grad());
    CHECK(named[name].data_ptr() == p.data_ptr());
  }
  CHECK(contains(error_of([&] { trainer.teacher(); }), "stage 0 trains the teacher itself"));

  const auto l = losses(trainer, 40);
  CHECK(mean(l, 30, 10) < 0.7 * mean(l, 0, 10)); // 1.6 -> 0.75: every level of noise in the draws

  // the export is the plain model, which inference.checkpoint loads as the teacher of stage 1
  const auto checkpoint = out.file("step_40.safetensors");
  trainer.save_checkpoint(checkpoint);
  const auto exported = out.file("teacher.safetensors");
  train::export_teacher(config, checkpoint, train::TrainedWeights::kRaw, exported);
  auto stage1 = hybrid_config(1, data.path, "");
  stage1.inference.checkpoint = exported;
  const train::Trainer distillation(stage1, "hash-1");
  CHECK(torch::equal(predict(distillation.teacher()), predict(trainer.student())));
  const auto teacher = distillation.teacher().named_parameters();
  for (const auto& [name, p] : trainer.trainable()) {
    INFO(name);
    CHECK(torch::equal(teacher[name], p));
  }

  // the EMA is another model
  train::export_teacher(config, checkpoint, train::TrainedWeights::kEma, out.file("ema.safetensors"));
  const auto ema = train::make_teacher(config, out.file("ema.safetensors"), torch::dtype(torch::kFloat));
  CHECK(!torch::equal(predict(*ema), predict(trainer.student())));
}

TEST_CASE(
    "prompt dropout trains on the empty prompt: all but never, the clips' text stops mattering", "[train][teacher]") {
  TempDir data, other_text;
  toy::ToyClipOptions options;
  options.frames = 4;
  options.scene.size = 16;
  const auto toy = toy::make_toy_clips(/*seed=*/11, 0, 2, options);
  train::save_clip_shard(train::shard_path(data.path, 0), toy.pixels, toy.text_embeddings);
  train::save_clip_shard(train::shard_path(other_text.path, 0), toy.pixels, -toy.text_embeddings);
  const auto three_losses = [](const std::string& path, const std::string& extra) {
    train::Trainer trainer(toy_config(path, extra), "hash");
    return losses(trainer, 3);
  };
  CHECK(three_losses(data.path, "") != three_losses(other_text.path, ""));
  const std::string always = "  prompt_dropout: 0.9999999\n"; // the key's range is [0, 1)
  CHECK(three_losses(data.path, always) == three_losses(other_text.path, always));
}

TEST_CASE("a resumed stage-0 run continues bitwise", "[train][teacher][checkpoint]") {
  TempDir data, out;
  write_toy_clips(data, 3);
  const auto config =
      toy_config(data.path, "  batch_size: 2\n  grad_accumulation: 2\n  activation_checkpointing: true\n");
  check_resume_is_bitwise(config, out.file("step_2.safetensors"));
}

TEST_CASE("bfloat16 trains float32 weights under autocast in stage 0", "[train][teacher]") {
  TempDir data;
  write_toy_clips(data, 1);
  auto config = toy_config(data.path);
  config.train.dtype = "bfloat16";
  train::Trainer trainer(config, "hash");
  const auto r = trainer.step();
  CHECK(std::isfinite(r.loss));
  CHECK(r.grad_norm > 0);
  for (const auto& [name, p] : trainer.trainable()) {
    CHECK(p.scalar_type() == torch::kFloat);
  }
}

TEST_CASE("train.init_from starts stage 0 from a model file or a stage-0 checkpoint", "[train][teacher]") {
  TempDir data, out;
  write_toy_clips(data, 1);
  const auto config = toy_config(data.path);
  train::Trainer first(config, "hash");
  losses(first, 2);
  first.save_checkpoint(out.file("stage0.safetensors"));
  model::save_weights(first.student(), out.file("model.safetensors"));

  for (const auto* file : {"stage0.safetensors", "model.safetensors"}) {
    INFO(file);
    train::Trainer next(toy_config(data.path, "  init_from: " + out.file(file) + "\n"), "hash-2");
    CHECK(next.steps_done() == 0);
    CHECK(torch::equal(predict(next.student()), predict(first.student())));
  }
}

TEST_CASE("what stage 0 cannot take is refused naming the key or the file", "[config][train][teacher]") {
  TempDir data, out;
  write_toy_clips(data, 1);
  const auto error_in = [](const std::string& yaml) {
    return error_of([&] { config::parse_config(yaml, "test.yaml"); });
  };
  CHECK(contains(
      error_in("train:\n  stage: 4\n"),
      "train.stage: expected 0 (teacher training), 1 (layer alignment), 2 (distillation) or 3 (on-policy "
      "distillation), got 4 (line 2)"));
  CHECK(contains(
      error_in("model:\n  preset: toy\nhybrid:\n  ratio: 0.75\ntrain:\n  stage: 0\n"),
      "test.yaml: train.stage: 0 trains the plain model (the teacher), but the config has a hybrid section"));
  CHECK(contains(
      error_of([&] { config::parse_config(toy_yaml(data.path), "toy.yaml", {"hybrid.ratio=0.5"}); }),
      "but the config has a hybrid section: remove it, or set train.stage to 1, 2 or 3"));

  auto from_base = toy_config(data.path);
  from_base.inference.checkpoint = out.file("base.safetensors");
  CHECK(contains(
      error_of([&] { train::Trainer(from_base, "h"); }),
      "inference.checkpoint: stage 0 trains the teacher itself and loads none; start it from weights with "
      "train.init_from"));

  // checkpoints of the other stages, and this stage's where a hybrid's are wanted
  const auto stage0 = out.file("stage0.safetensors"), stage1 = out.file("stage1.safetensors");
  const auto config = toy_config(data.path);
  {
    train::Trainer teacher(config, "h0");
    teacher.step();
    teacher.save_checkpoint(stage0);
    model::save_weights(teacher.student(), out.file("teacher.safetensors"));
    auto distil = hybrid_config(1, data.path, "");
    distil.inference.checkpoint = out.file("teacher.safetensors");
    train::Trainer hybrid(distil, "h1");
    hybrid.step();
    hybrid.save_checkpoint(stage1);
  }
  CHECK(contains(
      error_of([&] { train::Trainer(toy_config(data.path, "  init_from: " + stage1 + "\n"), "h"); }),
      "train.init_from: '" + stage1 +
          "' is a stage-1 checkpoint, a hybrid's parameters; stage 0 starts from a stage-0 checkpoint or a model's "
          "weights file"));
  auto distil_from_stage0 = hybrid_config(2, data.path, "  init_from: " + stage0 + "\n");
  distil_from_stage0.inference.checkpoint = out.file("teacher.safetensors");
  CHECK(contains(
      error_of([&] { train::Trainer(distil_from_stage0, "h"); }),
      "' is a stage-0 checkpoint, a whole model; export it (arl2 export) and name the file in inference.checkpoint"));
  CHECK(contains(
      error_of([&] { train::export_teacher(config, stage1, train::TrainedWeights::kRaw, out.file("x.safetensors")); }),
      stage1 + ": a stage-1 checkpoint holds a hybrid's parameters, not a whole model"));
  CHECK(contains(
      error_of([&] {
        const auto hybrid = hybrid_config(1, data.path, "");
        train::export_merged(hybrid, stage0, train::TrainedWeights::kRaw, out.file("x.safetensors"));
      }),
      stage0 + ": a stage-0 checkpoint holds a whole model, not a hybrid's parameters"));
  auto wider = config;
  wider.model.ffn_dim = 256;
  CHECK(contains(
      error_of([&] { train::export_teacher(wider, stage0, train::TrainedWeights::kRaw, out.file("x.safetensors")); }),
      "'param.blocks.0.ffn.0.weight' has shape [512, 128], the configured model's is [256, 128] (model section)"));
}

} // namespace
} // namespace arl2::test
