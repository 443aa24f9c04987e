// Continuation, the metric that needs no judgement: given the true first frames of a clip, how close does a
// model carry it on? The model commits the true frames as its context, exactly as it commits its own finished
// blocks in generation, then generates the next blocks; each predicted frame is compared with the truth. Copying
// the last context frame forward is the baseline a model must beat to show that it has learnt motion at all.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "inference/generator_options.h"
#include "model/wan_dit.h"

namespace arl2::eval {

// The `frames` frames that follow `context` [B, C, Fc, H, W], as [B, C, frames, H, W].
using Continuation = std::function<at::Tensor(const at::Tensor& context, int64_t frames)>;

// truth [B, C, F, H, W]: `continuation` gets its first `context_frames` frames and predicts the rest. Returns the
// mean squared error of each predicted frame (frames context_frames..F-1), over the batch, channels and pixels,
// in the pixels' own units (Wan's [-1, 1] for the toy domain).
std::vector<double> continuation_mse(const at::Tensor& truth, int64_t context_frames, const Continuation& continuation);

// The baseline: every predicted frame is the last context frame.
Continuation copy_last_frame();

// `model`'s: the context is committed block by block (GenerationRun::commit, as a finished block is), then each
// further block is denoised from noise drawn with `seed` and committed. `text` [B, L, text_dim] holds the
// prompts; context and prediction must be whole blocks of options.frames_per_block.
Continuation generated_continuation(
    std::shared_ptr<const model::WanDiT> model,
    const inference::GeneratorOptions& options,
    at::Tensor text,
    uint64_t seed);

} // namespace arl2::eval
