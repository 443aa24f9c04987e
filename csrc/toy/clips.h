// Batches of toy clips: the scenes of a run of clip indices under one seed, their pixels, prompts and text input,
// ready to be written as a training shard. Clip i depends only on the seed and i, so any split into shards gives
// the same clips.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "toy/scene.h"
#include "toy/text.h"

namespace arl2::toy {

struct ToyClipOptions {
  SceneOptions scene;
  int64_t frames = 16;
  int64_t text_len = 16; // holds the longest prompt of 3 sprites (14 words)
  int64_t text_dim = 32; // the tiny model's; at least toy::min_text_dim()
};

struct ToyClips {
  std::vector<Scene> scenes;
  std::vector<std::string> prompts;
  at::Tensor pixels; // [N, frames, 3, size, size] float32 in [-1, 1]
  TokenizedPrompts tokens;
  at::Tensor text_embeddings; // [N, text_len, text_dim] float32, one-hot (text.h says why)
};

// Throws naming the first option that cannot work: too few frames, a frame too small, a text length shorter than
// the longest prompt, a text_dim narrower than the vocabulary.
void validate_toy_clip_options(const ToyClipOptions& options);

// Clips first..first+count-1 of `seed`.
ToyClips make_toy_clips(uint64_t seed, int64_t first, int64_t count, const ToyClipOptions& options);

} // namespace arl2::toy
