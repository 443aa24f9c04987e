// The options of autoregressive generation (generator.h), apart so that the config reader can hold them
// without the model's headers.
#pragma once

#include <cstdint>

#include "inference/flow_matching.h"
#include "inference/memory_estimate.h"

namespace arl2::inference {

struct GeneratorOptions {
  FlowMatchOptions schedule;
  double context_timestep = 0.0; // the clean pass's timestep (Self Forcing's context_noise)
  int64_t frames_per_block = 3;
  int64_t latent_height = 60; // 480 pixels
  int64_t latent_width = 104; // 832 pixels
  KVCachePolicy kv;           // softmax layers: the whole video preallocated, or a rolling window with sinks
  // Replay each block's denoising passes from a CUDA graph (pass_graph.h) where their shapes repeat from
  // block to block: on CUDA, for models whose every layer keeps a recurrent state (hybrid 100%).
  bool cuda_graphs = true;
  // Classifier-free guidance (guidance.h): each denoising pass predicts the flow under the prompt and under the
  // empty prompt, and samples along their guided combination; 1: the prompt's alone. Committed blocks enter
  // both halves' caches.
  double guidance_scale = 1.0;
  bool guided() const {
    return guidance_scale != 1.0;
  }
  // Batch items the model runs for each video: 2 under guidance, else 1.
  int64_t passes_per_video() const {
    return guided() ? 2 : 1;
  }
};

} // namespace arl2::inference
