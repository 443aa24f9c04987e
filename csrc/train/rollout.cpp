// roll_out, rollout_lengths and rollout_bytes (see rollout.h).
#include "train/rollout.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "inference/generator.h"
#include "inference/memory_estimate.h"

namespace arl2::train {

int64_t RolloutLengths::longest_at(int64_t step) const {
  if (curriculum_steps == 0 || step >= curriculum_steps) {
    return longest_blocks;
  }
  return shortest() + (longest_blocks - shortest()) * step / curriculum_steps;
}

RolloutLengths rollout_lengths(const config::Config& config) {
  const auto& t = config.train;
  return {
      t.rollout_context_blocks,
      t.rollout_window_blocks,
      t.rollout_frames / config.inference.generator.frames_per_block,
      t.rollout_curriculum_steps};
}

Rollout roll_out(
    const std::shared_ptr<const model::WanDiT>& student,
    const std::shared_ptr<const model::WanDiT>& teacher,
    const inference::GeneratorOptions& options,
    const at::Tensor& text,
    const at::Tensor& context,
    int64_t blocks,
    int64_t window_blocks,
    uint64_t seed) {
  const int64_t fpb = options.frames_per_block;
  TORCH_CHECK(context.size(2) % fpb == 0, "roll_out: the context's ", context.size(2), " frames are not whole blocks");
  const int64_t context_blocks = context.size(2) / fpb, history = blocks - 1;
  TORCH_CHECK(
      window_blocks > 0 && context_blocks + window_blocks <= history,
      "roll_out: a rollout of ",
      blocks,
      " blocks cannot hold ",
      context_blocks,
      " context blocks, a window of ",
      window_blocks,
      " and the predicted block");
  c10::NoGradGuard no_grad;
  // The student rolls out as it will sample, unguided: the caches it leaves are those of its own prompts only.
  auto unguided = options;
  unguided.guidance_scale = 1.0;
  auto student_run = inference::ARGenerator(student, unguided).start(text, blocks * fpb, seed);
  auto teacher_run = inference::ARGenerator(teacher, unguided).start(text, blocks * fpb, seed);
  Rollout rollout;
  rollout.text = text;
  std::vector<at::Tensor> window;
  for (int64_t b = 0; b < history; ++b) {
    if (b == history - window_blocks) {
      for (const auto& cache : student_run.caches()) {
        rollout.student.push_back(cache.clone()); // the commits below write the run's caches in place
      }
    }
    const auto block = b < context_blocks ? context.narrow(2, b * fpb, fpb) : student_run.denoise_next();
    if (b + 1 < history) { // the last block's commit would serve no block of the rollout
      student_run.commit(block);
    }
    teacher_run.commit(block);
    if (b >= history - window_blocks) {
      window.push_back(block);
    }
  }
  rollout.window = at::cat(window, 2);
  rollout.window_blocks = window_blocks;
  rollout.teacher = teacher_run.caches();
  return rollout;
}

int64_t rollout_bytes(const config::Config& config, int64_t hybrid_layers, int64_t elem_bytes) {
  const auto& g = config.inference.generator;
  const auto& m = config.model;
  const auto& t = config.train;
  const inference::GenerationShape shape{
      t.batch_size, t.rollout_frames, g.latent_height, g.latent_width, g.frames_per_block};
  const auto caches = [&](int64_t hybrids) {
    const auto e = inference::estimate_generation_memory(m, hybrids, 0, shape, g.kv, elem_bytes);
    return e.kv_cache_bytes + e.state_bytes + e.prompt_bytes;
  };
  const int64_t window =
      t.batch_size * m.in_dim * t.rollout_window_blocks * g.frames_per_block * g.latent_height * g.latent_width;
  const int64_t text = t.batch_size * m.text_len * m.text_dim;
  return caches(hybrid_layers) + caches(0) + (window + text) * elem_bytes;
}

} // namespace arl2::train
