// Stage 3, on-policy distillation (csrc/train/trainer.h, rollout.h, on_policy_prediction.h), on the tiny model on
// the CPU: a rollout is the generator's own video and caches, a micro-batch leaves its rollout as it was, the
// gradient reaches the hybrid layer's write parameters through the window, a resumed run continues bitwise, and
// the rollout keys and what the trainer checks of them are refused naming the key.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "config/config.h"
#include "inference/generator.h"
#include "model/conversion.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "train/on_policy_prediction.h"
#include "train/rollout.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

// Rollouts of at most 4 blocks of 2 frames, the last one predicted; new ones every 2 steps.
const std::string kRollouts =
    "  rollout_frames: 8\n  rollout_buffer: 2\n  rollout_refresh_steps: 2\n  checkpoint_every: 2\n";

config::Config stage3_config(const std::string& data, const std::string& extra = "") {
  return tiny_config(3, data, kRollouts + extra);
}

struct TinyPair {
  std::shared_ptr<model::WanDiT> teacher, student;
  inference::GeneratorOptions options;
};

TinyPair tiny_pair() {
  torch::manual_seed(0);
  TinyPair p;
  p.teacher = random_tiny(torch::kFloat32);
  model::HybridOptions hybrid;
  hybrid.layers = {0};
  p.student = model::make_hybrid_student(*p.teacher, hybrid);
  p.options.frames_per_block = 2;
  p.options.latent_height = 4;
  p.options.latent_width = 4;
  return p;
}

TEST_CASE(
    "a rollout is the generator's video, with its caches before the window and the teacher's after",
    "[train][on_policy]") {
  auto p = tiny_pair();
  const auto text = torch::randn({1, 8, 32});
  const auto video = inference::ARGenerator(p.student, p.options).generate(text, 8, /*seed=*/3); // 4 blocks
  const auto rollout = train::roll_out(p.student, p.teacher, p.options, text, video.narrow(2, 0, 0), 4, 2, 3);
  // The history is blocks 0 to 2; the window its last two.
  CHECK(torch::equal(rollout.window, video.narrow(2, 2, 4)));
  CHECK(rollout.window_blocks == 2);
  CHECK(rollout.student.front().frames_committed() == 2);
  CHECK(rollout.teacher.front().frames_committed() == 6);

  // The teacher's caches are its clean passes over those blocks; the student's, its own over block 0.
  auto teacher_caches = p.teacher->make_caches(1, 4, 4, model::KVCacheSpec{8});
  auto student_caches = p.student->make_caches(1, 4, 4, model::KVCacheSpec{8});
  torch::NoGradGuard no_grad;
  const auto t0 = torch::zeros({1, 2});
  for (int64_t b = 0; b < 3; ++b) {
    p.teacher->commit_cached(video.narrow(2, 2 * b, 2), t0, text, teacher_caches);
  }
  p.student->commit_cached(video.narrow(2, 0, 2), t0, text, student_caches);
  const auto x = torch::randn({1, 16, 2, 4, 4});
  auto kept_teacher = rollout.teacher;
  auto kept_student = rollout.student;
  CHECK(torch::equal(
      p.teacher->forward_cached(x, t0 + 500, text, kept_teacher, false),
      p.teacher->forward_cached(x, t0 + 500, text, teacher_caches, false)));
  CHECK(torch::equal(
      p.student->forward_cached(x, t0 + 500, text, kept_student, false),
      p.student->forward_cached(x, t0 + 500, text, student_caches, false)));

  // A context is committed as it is, and the student's blocks follow it.
  const auto context = torch::randn({1, 16, 2, 4, 4});
  const auto from_context = train::roll_out(p.student, p.teacher, p.options, text, context, 3, 1, 3);
  CHECK(from_context.teacher.front().frames_committed() == 4);
  auto run = inference::ARGenerator(p.student, p.options).start(text, 6, 3);
  run.commit(context);
  CHECK(torch::equal(from_context.window, run.denoise_next()));
  CHECK(contains(
      error_of([&] { train::roll_out(p.student, p.teacher, p.options, text, context, 3, 2, 3); }),
      "roll_out: a rollout of 3 blocks cannot hold 1 context blocks, a window of 2 and the predicted block"));
}

TEST_CASE("a micro-batch predicts on the student's trajectory and leaves its rollout as it was", "[train][on_policy]") {
  auto p = tiny_pair();
  const auto text = torch::randn({1, 8, 32});
  auto rollout = train::roll_out(p.student, p.teacher, p.options, text, torch::zeros({1, 16, 0, 4, 4}), 4, 1, 5);
  const inference::FlowMatchSchedule schedule(p.options.schedule);
  train::PhaseTimer timer;
  train::PhaseTimes times;
  for (int64_t step = 0; step < 4; ++step) {
    INFO("step " << step);
    const train::OnPolicyDraw draw{0, step, 11};
    const auto a = train::predict_after_rollout(*p.student, *p.teacher, schedule, 0.0, rollout, draw, timer, times);
    const auto b = train::predict_after_rollout(*p.student, *p.teacher, schedule, 0.0, rollout, draw, timer, times);
    CHECK(a.student.requires_grad());
    CHECK_FALSE(a.teacher.requires_grad());
    CHECK(torch::equal(a.student, b.student));
    CHECK(torch::equal(a.teacher, b.teacher));
    CHECK(rollout.student.front().frames_committed() == 4);
  }
}

TEST_CASE("stage 3's gradient reaches the hybrid layer's writes through the window", "[train][on_policy]") {
  TempDir data;
  write_clips(data, 2);
  train::Trainer trainer(stage3_config(data.path), "hash");
  const auto r = trainer.step();
  CHECK(std::isfinite(r.loss));
  CHECK(r.loss > 0);
  // Every trainable parameter learns, the adapters' down-projections A once their zero-initialised B has moved;
  // the write's (a_proj, b_proj, A_log, dt_bias, phi_k, phi_v, lora_k_B, lora_v_B) only through the window: the
  // history before it is read as the rollout left it, detached.
  const auto check_gradients = [&](bool adapters_moved) {
    for (const auto& [name, p] : trainer.trainable()) {
      INFO(name);
      REQUIRE(p.grad().defined());
      const bool zero_b = contains(name, "lora") && contains(name, "_A") && !adapters_moved;
      CHECK((p.grad().norm().item<double>() > 0) != zero_b);
    }
  };
  check_gradients(false);
  trainer.step();
  check_gradients(true);
}

TEST_CASE("the clip loss adds stage 2's loss on the clips to the on-policy loss", "[train][on_policy]") {
  TempDir data;
  write_clips(data, 2);
  // The same run with and without the clip term: the on-policy draws come first, so they agree, and the clip
  // term adds stage 2's (positive) loss.
  train::Trainer plain(stage3_config(data.path), "hash");
  train::Trainer anchored(stage3_config(data.path, "  rollout_clip_loss_weight: 2.0\n"), "hash");
  const auto plain_loss = plain.step().loss, anchored_loss = anchored.step().loss;
  CHECK(std::isfinite(anchored_loss));
  CHECK(anchored_loss > plain_loss);
}

TEST_CASE("a resumed stage-3 run continues bitwise", "[train][on_policy][checkpoint]") {
  TempDir data, out;
  write_clips(data, 3);
  // A ground-truth block first, a curriculum, two micro-batches a step, the clip loss.
  const auto config = stage3_config(
      data.path,
      "  rollout_context_blocks: 1\n  rollout_curriculum_steps: 4\n  grad_accumulation: 2\n"
      "  rollout_clip_loss_weight: 0.5\n");
  check_resume_is_bitwise(config, out.file("step_2.safetensors"));

  train::Trainer trainer(config, "hash");
  losses(trainer, 1);
  CHECK(contains(
      error_of([&] { trainer.save_checkpoint(out.file("step_1.safetensors")); }),
      "a stage-3 checkpoint is written where new rollouts are due (every train.rollout_refresh_steps = 2 steps) or "
      "at train.steps (50), so that a run resumed from it makes the rollouts this run makes; step 1 is neither"));
}

TEST_CASE("the rollout keys and what the trainer checks of them", "[config][train][on_policy]") {
  const auto c = stage3_config("clips", "  rollout_window_blocks: 2\n");
  CHECK(c.train.rollout_frames == 8);
  CHECK(c.train.rollout_window_blocks == 2);
  CHECK(c.train.rollout_context_blocks == 0); // a default
  const auto dumped = config::dump_config(c);
  CHECK(contains(dumped, "rollout_window_blocks: 2"));
  CHECK(config::dump_config(config::parse_config(dumped, "config.yaml")) == dumped);
  CHECK_FALSE(contains(config::dump_config(tiny_config(2, "clips")), "rollout"));

  const auto error_in = [](int stage, const std::string& train) {
    return error_of([&] { config::parse_config(tiny_yaml(stage, "clips", train), "test.yaml"); });
  };
  // the keys added to tiny_yaml's train section start at line 19
  CHECK(contains(
      error_in(3, "  rollout_frames: 7\n"),
      "train.rollout_frames: 7 latent frames are not whole blocks of inference.frames_per_block (2) (line 19)"));
  CHECK(contains(
      error_in(3, "  rollout_frames: 4\n  rollout_context_blocks: 1\n"),
      "train.rollout_frames: 2 blocks cannot hold train.rollout_context_blocks (1), train.rollout_window_blocks (1) "
      "and the block predicted after them: set at least 6 frames (line 19)"));
  CHECK(contains(
      error_of([] { config::parse_config(tiny_yaml(3, "clips"), "test.yaml", {"inference.frames_per_block=5"}); }),
      "train.rollout_frames (default 84): 84 latent frames are not whole blocks of inference.frames_per_block (5)"));
  CHECK(contains(
      error_in(3, "  rollout_buffer: 0\n"),
      "train.rollout_buffer: expected an integer in [1, 1048576], got 0 (line 19)"));
  CHECK(contains(
      error_in(3, "  rollout_window_blocks: 0\n"),
      "train.rollout_window_blocks: expected an integer in [1, 1048576], got 0 (line 19)"));
  CHECK(contains(
      error_in(3, "  rollout_clip_loss_weight: -1\n"),
      "train.rollout_clip_loss_weight: expected a number >= 0, got -1 (line 19)"));
  CHECK(contains(
      error_in(2, "  rollout_buffer: 2\n"),
      "train.rollout_buffer: a stage-3 option (on-policy distillation), but train.stage is 2 (line 19)"));
  CHECK(contains(
      error_in(3, "  checkpoint_every: 25\n"),
      "train.checkpoint_every: train.checkpoint_every (25) must be a multiple of train.rollout_refresh_steps (10): a "
      "resumed run makes its rollouts anew, so it resumes where new ones are due (line 19)"));

  // what only the trainer can check, before any step
  TempDir data;
  write_clips(data, 1);
  auto long_context = stage3_config(data.path);
  long_context.train.rollout_frames = 12;
  long_context.train.rollout_context_blocks = 3;
  CHECK(contains(
      error_of([&] { train::Trainer(long_context, "h"); }),
      "train.rollout_context_blocks (3) exceeds the 2 blocks of the clips in data.path"));
  auto too_many = stage3_config(data.path);
  too_many.train.rollout_frames = 1 << 30;
  too_many.train.rollout_buffer = 1 << 20;
  const auto memory = error_of([&] { train::Trainer(too_many, "h"); });
  CHECK(contains(memory, "train.rollout_buffer: 1048576 rollouts of 6.60 TB each (both models' caches for"));
  CHECK(contains(memory, " free on cpu; keep fewer rollouts, shorter ones (train.rollout_frames) or a KV window"));

  // a teacher of another shape than the model section's is refused naming its tensors
  TempDir weights;
  auto other = model::model_preset("tiny");
  other.ffn_dim = 96;
  model::save_weights(model::WanDiT(other), weights.file("teacher.safetensors"));
  auto wrong_teacher = stage3_config(data.path);
  wrong_teacher.inference.checkpoint = weights.file("teacher.safetensors");
  const auto message = error_of([&] { train::Trainer(wrong_teacher, "h"); });
  CHECK(contains(message, "the state dict does not match the model"));
  CHECK(contains(message, "blocks.0.ffn.0.weight"));
}

} // namespace
} // namespace arl2::test
