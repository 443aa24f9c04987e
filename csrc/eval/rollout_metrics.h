// Rollouts from the prompt alone, measured frame by frame from their pixels (toy/clip_metrics.h): how long a
// model keeps the prompt's sprites, one each, moving smoothly. The truth of the same scenes is measured the
// same way, so that a reader sees what the measures give when nothing is wrong (bounces, sprites passing over
// each other).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "inference/generator_options.h"
#include "model/wan_dit.h"
#include "toy/clip_metrics.h"

namespace arl2::eval {

// videos [N, 3, F, size, size] in [-1, 1]; prompt_colours[i] the colours clip i's prompt names. The metrics of
// each clip, averaged over the clips frame by frame.
toy::ClipMetrics mean_clip_metrics(
    const at::Tensor& videos,
    const std::vector<std::vector<int>>& prompt_colours,
    const toy::FrameAnalysisOptions& options);

// Generates `frames` frames (whole blocks) for each prompt of `text` [N, L, text_dim] in one batch, with noise
// from `seed`, and measures them. `on_block`, when given, gets the frames finished so far after each block.
// A block depends only on the blocks before it and its noise is drawn after theirs, so the first L frames of
// this rollout are the rollout of L frames: one long rollout serves every shorter length.
toy::ClipMetrics rollout_metrics(
    std::shared_ptr<const model::WanDiT> model,
    const inference::GeneratorOptions& options,
    const at::Tensor& text,
    const std::vector<std::vector<int>>& prompt_colours,
    int64_t frames,
    uint64_t seed,
    const toy::FrameAnalysisOptions& analysis,
    const std::function<void(int64_t frames_done)>& on_block = {});

} // namespace arl2::eval
