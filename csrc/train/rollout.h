// Stage 3's rollouts (trainer.h; docs/design.md, "Training stages"): the student generates from a prompt block by
// block exactly as inference does (inference::GenerationRun: the sampler's passes, then the clean pass that
// commits the block), without gradient, and the teacher commits the same student-made blocks with one clean pass
// each. A Rollout keeps what a micro-batch needs of it (on_policy_prediction.h): the student's caches before the
// gradient window, the window's blocks, and the teacher's caches after the whole history. The block after the
// history is the one a micro-batch predicts, so the caches are made for the history and that block.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "config/config.h"
#include "inference/generator_options.h"
#include "model/layer_cache.h"
#include "model/wan_dit.h"

namespace arl2::train {

// The lengths of a run's rollouts, in blocks (the train.rollout_* keys).
struct RolloutLengths {
  int64_t context_blocks = 0; // taken from the clip, as they are
  int64_t window_blocks = 1;  // the history's last blocks, written again with gradient
  int64_t longest_blocks = 0; // train.rollout_frames / frames_per_block
  int64_t curriculum_steps = 0;

  // The history's first blocks, the window and the predicted block: the shortest rollout.
  int64_t shortest() const {
    return context_blocks + window_blocks + 1;
  }
  // The longest rollout made at `step`: shortest() at step 0, growing linearly to longest_blocks at
  // curriculum_steps (at once with none).
  int64_t longest_at(int64_t step) const;
};

RolloutLengths rollout_lengths(const config::Config& config);

struct Rollout {
  at::Tensor text;                        // [B, L, D]
  std::vector<model::LayerCache> student; // before the window
  at::Tensor window;                      // [B, C, window_blocks * frames_per_block, H, W], the window's blocks
  int64_t window_blocks = 0;
  std::vector<model::LayerCache> teacher; // after the whole history, the window included
};

// A rollout of `blocks` blocks for `text` [B, L, D] on the models' device: `context` [B, C, F, H, W] (whole blocks,
// F possibly 0) is committed as it is, the student generates the rest of the history (blocks - 1 in all) with noise
// from `seed`, and the last `window_blocks` blocks of it form the window, which must follow the context.
Rollout roll_out(
    const std::shared_ptr<const model::WanDiT>& student,
    const std::shared_ptr<const model::WanDiT>& teacher,
    const inference::GeneratorOptions& options,
    const at::Tensor& text,
    const at::Tensor& context,
    int64_t blocks,
    int64_t window_blocks,
    uint64_t seed);

// Bytes one rollout of the longest length keeps (both models' caches, as generation estimates them, and the
// window's blocks), for `hybrid_layers` hybrid layers in the student and caches of `elem_bytes` per element.
int64_t rollout_bytes(const config::Config& config, int64_t hybrid_layers, int64_t elem_bytes);

} // namespace arl2::train
