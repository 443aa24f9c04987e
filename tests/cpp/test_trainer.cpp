// The trainer (csrc/train/trainer.h) on the tiny model on the CPU: the loss falls in both stages, the
// frozen base stays bitwise as it was, a resumed run continues bitwise, a stage-1 checkpoint starts stage
// 2, a non-finite loss stops the run with the step, the layers' diagnostics and the last good checkpoint named,
// and the train and data sections read and report mistakes like the others.
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
#include "io/safetensors.h"
#include "model_test_util.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

TEST_CASE("the loss falls over 50 steps in each stage", "[train][trainer]") {
  TempDir data;
  write_clips(data, 1);
  const int stage = GENERATE(1, 2);
  INFO("stage " << stage);
  train::Trainer trainer(tiny_config(stage, data.path), "hash");
  const auto l = losses(trainer, 50);
  CHECK(mean(l, 45, 5) < 0.7 * mean(l, 0, 5));
}

TEST_CASE("the frozen base stays bitwise as it was", "[train][trainer]") {
  TempDir data;
  write_clips(data, 2);
  train::Trainer trainer(tiny_config(2, data.path), "hash");
  std::vector<std::pair<std::string, torch::Tensor>> before;
  for (const auto& p : trainer.teacher().named_parameters()) {
    before.emplace_back(p.key(), p.value().clone());
  }
  losses(trainer, 3);
  const auto after = trainer.teacher().named_parameters();
  for (const auto& [name, value] : before) {
    INFO(name);
    CHECK(torch::equal(after[name], value));
    // the student's base tensor is the teacher's storage
    CHECK(trainer.student().named_parameters()[name].data_ptr() == after[name].data_ptr());
  }
  for (const auto& [name, p] : trainer.trainable()) {
    CHECK(p.requires_grad());
    CHECK(before.end() == std::find_if(before.begin(), before.end(), [&](const auto& b) { return b.first == name; }));
  }
}

TEST_CASE("a resumed trainer continues bitwise", "[train][trainer][checkpoint]") {
  TempDir data, out;
  write_clips(data, 3);
  const auto config = tiny_config(2, data.path, "  grad_accumulation: 2\n  activation_checkpointing: true\n");
  const auto path = out.file("step_2.safetensors");
  check_resume_is_bitwise(config, path);
  train::Trainer other_config(config, "another hash");
  CHECK(contains(error_of([&] { other_config.resume(path); }), "under config hash hash, this run's is another hash"));
}

TEST_CASE("a stage-1 checkpoint starts stage 2", "[train][trainer][checkpoint]") {
  TempDir data, out;
  write_clips(data, 1);
  const auto path = out.file("stage1.safetensors");
  train::Trainer stage1(tiny_config(1, data.path), "hash-1");
  losses(stage1, 3);
  stage1.save_checkpoint(path);
  for (const auto& [name, p] : stage1.trainable()) {
    CHECK(name.find("lora") == std::string::npos); // stage 1 trains the memory path only
  }

  train::Trainer stage2(tiny_config(2, data.path, "  init_from: " + path + "\n"), "hash-2");
  CHECK(stage2.steps_done() == 0);
  CHECK(stage2.trainable().size() > stage1.trainable().size()); // LoRA joins
  const auto student = stage2.student().named_parameters();
  for (const auto& [name, p] : stage1.trainable()) {
    INFO(name);
    CHECK(torch::equal(student[name], p));
  }
  losses(stage2, 2);

  // a stage-2 checkpoint holds LoRA, which a stage-1 run has not
  stage2.save_checkpoint(out.file("stage2.safetensors"));
  CHECK(contains(
      error_of([&] {
        train::Trainer(tiny_config(1, data.path, "  init_from: " + out.file("stage2.safetensors") + "\n"), "h");
      }),
      "train.init_from: '" + out.file("stage2.safetensors") +
          "' holds 'blocks.0.ffn.0.lora_A', not a trainable "
          "parameter of this run"));
}

TEST_CASE(
    "a non-finite loss stops the run naming the step, the layers and the last good checkpoint", "[train][trainer]") {
  TempDir data, out;
  write_clips(data, 1);
  train::Trainer trainer(tiny_config(1, data.path), "hash");
  losses(trainer, 2);
  trainer.save_checkpoint(out.file("good.safetensors"));
  losses(trainer, 1); // a step from its parameters with a finite loss makes it good
  trainer.save_checkpoint(out.file("unproven.safetensors"));
  const std::string gate = "blocks.0.self_attn.gate_proj.weight";
  {
    torch::NoGradGuard no_grad;
    trainer.student().named_parameters()[gate].fill_(NAN);
  }
  const auto message = error_of([&] { trainer.step(); });
  CHECK(contains(message, "the loss is nan at step 4; the run stops before the optimizer step"));
  CHECK(contains(message, "layer 0: intra RMS"));
  CHECK(contains(message, "gate mean nan"));
  CHECK(contains(message, "last good checkpoint: " + out.file("good.safetensors")));
  CHECK(contains(
      message,
      out.file("unproven.safetensors") +
          " holds the parameters that gave it: a run resumed from it fails the same way"));
  CHECK(trainer.steps_done() == 3);

  // a checkpoint holding a NaN is never written
  CHECK(contains(
      error_of([&] { trainer.save_checkpoint(out.file("nan.safetensors")); }),
      "'param." + gate + "' holds a NaN or an infinity after step 3: its checkpoint " + out.file("nan.safetensors") +
          " is not written and the run stops\nlast good checkpoint: " + out.file("good.safetensors")));
  CHECK(out.listing() == std::vector<std::string>{"good.safetensors", "unproven.safetensors"});
}

TEST_CASE("bfloat16 runs the base in bfloat16 and trains float32 parameters", "[train][trainer]") {
  TempDir data;
  write_clips(data, 1);
  const int stage = GENERATE(1, 2);
  auto config = tiny_config(stage, data.path);
  config.train.dtype = "bfloat16";
  train::Trainer trainer(config, "hash");
  const auto r = trainer.step();
  CHECK(std::isfinite(r.loss));
  CHECK(r.grad_norm > 0);
  CHECK(trainer.teacher().parameters().front().scalar_type() == torch::kBFloat16);
  for (const auto& [name, p] : trainer.trainable()) {
    CHECK(p.scalar_type() == torch::kFloat);
  }
}

TEST_CASE("stage 2's per-layer terms add stage 1's alignment loss, weighted", "[train][trainer]") {
  TempDir data;
  write_clips(data, 1);
  const double weight = 0.5;
  train::Trainer plain(tiny_config(2, data.path), "hash");
  train::Trainer with_layers(tiny_config(2, data.path, "  layer_loss_weight: 0.5\n"), "hash");
  const auto a = plain.step(), b = with_layers.step();
  CHECK(a.layer_losses.empty());
  REQUIRE(b.layer_losses.size() == 1); // the one hybrid layer of the tiny config
  // Same seed, same first micro-batch: the distillation terms are equal, the difference is the layer term.
  CHECK(std::abs((b.loss - a.loss) - weight * b.layer_losses[0]) <= 1e-5 * weight * b.layer_losses[0]);
  CHECK(b.layer_losses[0] > 0);
}

TEST_CASE(
    "stage 2's guided teacher combines both prompts' predictions; an empty prompt guides to itself",
    "[train][trainer]") {
  TempDir data, empty;
  write_clips(data, 1);
  torch::manual_seed(7); // write_clips' latents, with the empty prompt
  io::save_safetensors(
      empty.file("clips.safetensors"),
      {{"latents", torch::randn({1, 4, 16, 4, 4})}, {"text_embeddings", torch::zeros({1, 8, 32})}});
  const auto first_loss = [](const std::string& path, const std::string& extra) {
    train::Trainer trainer(tiny_config(2, path, extra), "hash");
    return trainer.step().loss;
  };
  const std::string guided = "  teacher_guidance_scale: 3\n";
  CHECK(first_loss(data.path, guided) != first_loss(data.path, ""));
  // both halves of the teacher's batch see the same input: one batch of two against one, rounded apart only
  CHECK(first_loss(empty.path, guided) == Approx(first_loss(empty.path, "")).epsilon(1e-5));
}

TEST_CASE("the train and data sections", "[config][train]") {
  const auto c = tiny_config(2, "clips", "  grad_clip: 0\n  activation_checkpointing: true\n  beta2: 0.95\n");
  CHECK(c.train.stage == 2);
  CHECK(c.train.grad_clip == 0);
  CHECK(c.train.activation_checkpointing);
  CHECK(c.train.beta2 == 0.95);
  CHECK(c.train.batch_size == 1); // a default
  CHECK(c.data.path == "clips");

  // what the run folder keeps reads back to the same configuration
  const auto dumped = config::dump_config(c);
  CHECK(config::dump_config(config::parse_config(dumped, "config.yaml")) == dumped);
  CHECK(config::config_hash(c) != config::config_hash(tiny_config(1, "clips")));

  const auto error_in = [](const std::string& yaml) {
    return error_of([&] { config::parse_config(yaml, "test.yaml"); });
  };
  CHECK(contains(
      error_in("train:\n  stage: 4\n"),
      "train.stage: expected 0 (teacher training), 1 (layer alignment), 2 (distillation) or 3 (on-policy "
      "distillation), got 4 (line 2)"));
  CHECK(contains(error_in("train:\n  steps: 10\n  lr: abc\n"), "train.lr: expected a number, got \"abc\" (line 3)"));
  CHECK(contains(
      error_in("train:\n  batch_size: 0\n"), "train.batch_size: expected an integer in [1, 1048576], got 0 (line 2)"));
  CHECK(contains(
      error_in("train:\n  activation_checkpointing: 2\n"), "train.activation_checkpointing: expected true or false"));
  CHECK(contains(error_in("train:\n  dtype: float16\n"), "train.dtype: expected one of float32, float64, bfloat16"));
  CHECK(
      contains(error_in("train:\n  learning_rate: 1\n"), "train.learning_rate: unknown key; known keys: stage, steps"));
  CHECK(contains(error_in("data:\n  shards: [a]\n"), "data.shards: unknown key; known keys: path (line 2)"));
  CHECK(contains(
      error_in("train:\n  stage: 1\n  layer_loss_weight: 0.1\n"),
      "train.layer_loss_weight: per-layer terms are a stage-2 option (stage 1's loss is the per-layer alignment "
      "itself), but train.stage is 1 (line 3)"));
  CHECK(contains(
      error_in("train:\n  stage: 2\n  layer_loss_weight: -1\n"),
      "train.layer_loss_weight: expected a number >= 0, got -1"));
  CHECK(contains(
      error_in("train:\n  stage: 0\n  prompt_dropout: 1\n"),
      "train.prompt_dropout: expected a number in [0, 1), got 1 (line 3)"));
  CHECK(contains(
      error_in("train:\n  stage: 2\n  prompt_dropout: 0.1\n"),
      "train.prompt_dropout: prompt dropout trains a teacher (stage 0) for guidance, but train.stage is 2 (line 3)"));
  CHECK(contains(
      error_in("train:\n  stage: 1\n  teacher_guidance_scale: 3\n"),
      "train.teacher_guidance_scale: a guided teacher gives stage 2's targets, but train.stage is 1 (line 3)"));
  CHECK(contains(
      error_in("train:\n  stage: 2\n  layer_loss_weight: 1\n  teacher_guidance_scale: 3\n"),
      "train.teacher_guidance_scale: a guided teacher has no one attention per layer to align to"));
  CHECK(contains(
      error_of([] { config::parse_config("train:\n  stage: 1\n", "test.yaml", {"train.seed=-1"}); }),
      "train.seed: expected a non-negative integer, got -1 (set on the command line)"));

  // what only the trainer can check
  TempDir data;
  write_clips(data, 1);
  auto no_data = tiny_config(1, data.path);
  no_data.data.path.clear();
  CHECK(contains(error_of([&] { train::Trainer(no_data, "h"); }), "data.path: not set"));
  auto no_hybrid = tiny_config(1, data.path);
  no_hybrid.hybrid.reset();
  CHECK(contains(error_of([&] { train::Trainer(no_hybrid, "h"); }), "train: the config has no hybrid section"));
  auto long_warmup = tiny_config(1, data.path);
  long_warmup.train.warmup_steps = 60;
  CHECK(contains(
      error_of([&] { train::Trainer(long_warmup, "h"); }), "train.warmup_steps (60) must not exceed train.steps (50)"));
  auto three_frames = tiny_config(1, data.path);
  three_frames.inference.generator.frames_per_block = 3;
  CHECK(contains(
      error_of([&] { train::Trainer(three_frames, "h"); }),
      "data.path: the clips' 4 latent frames must be two or more whole blocks of inference.frames_per_block (3)"));
}

} // namespace
} // namespace arl2::test
