// What generation will hold on the device before it starts: the weights, the softmax layers' KV caches,
// the hybrid layers' recurrent states and every layer's cross-attention keys and values of the prompt. Printed before
// any work so that a run that cannot fit says so up front (issue: an estimate that exceeds the device's memory is an
// error before the first block).
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"

namespace arl2::inference {

struct GenerationShape {
  int64_t batch = 1;
  int64_t latent_frames = 21; // 81 pixel frames
  int64_t latent_height = 60; // 480 pixels / 8
  int64_t latent_width = 104; // 832 pixels / 8
  int64_t frames_per_block = 3;
};

struct KVCachePolicy {
  int64_t window_frames = 0; // 0: every frame of the video (preallocated); else a rolling window
  int64_t sink_frames = 0;   // frames of a rolling window that are never evicted
};

struct MemoryEstimate {
  int64_t weight_bytes = 0;
  int64_t kv_cache_bytes = 0; // all softmax layers, keys and values
  int64_t state_bytes = 0;    // all hybrid layers, float32 K x V per head and batch item
  int64_t prompt_bytes = 0;   // all layers, the prompt's cross-attention keys and values (text_len tokens)
  int64_t total_bytes() const {
    return weight_bytes + kv_cache_bytes + state_bytes + prompt_bytes;
  }
};

// parameter_count: the model's parameters (frozen and new) held in `elem_bytes` each; the caches also
// hold `elem_bytes` per element. Throws naming the field when the shape does not fit the model (latent
// size not a multiple of the patch, frames not whole blocks, more hybrid layers than layers, a sink that
// fills the window).
MemoryEstimate estimate_generation_memory(
    const model::ModelConfig& config,
    int64_t hybrid_layers,
    int64_t parameter_count,
    const GenerationShape& shape,
    const KVCachePolicy& policy,
    int64_t elem_bytes);

// "weights 2.84 GB, KV caches 6.04 GB, states 0 B, prompt 94.4 MB, total 8.97 GB", each in its own unit
std::string describe(const MemoryEstimate& estimate);

// 6.04 GB, 23.6 MB, 16.4 kB: three significant digits in the largest unit that keeps the number >= 1, so a tiny
// model's caches do not print as 0.00 GB.
std::string human_bytes(int64_t bytes);

} // namespace arl2::inference
