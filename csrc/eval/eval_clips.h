// The clips `arl2 eval` measures toy-domain models on: scenes 0..count-1 of a seed (by default one that no
// training data uses), their prompts and the colours the prompts name, and their true pixels followed as far as
// the longest rollout (a scene is defined for any number of frames, so the truth goes on past a training clip's
// end).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/config.h"
#include "toy/scene.h"

namespace arl2::eval {

struct EvalClips {
  std::vector<toy::Scene> scenes;
  std::vector<std::string> prompts;
  std::vector<std::vector<int>> prompt_colours; // the kColours indices each prompt names, read back from it
  at::Tensor truth;                             // [N, 3, frames, size, size] float32 in [-1, 1]: the model's layout
};

// Throws naming what cannot make clips (a frame size under 8, no clips, no frames).
EvalClips make_eval_clips(uint64_t seed, int64_t count, int64_t size, int64_t frames);

// The prompts as `model`'s text input [N, text_len, text_dim] float32, one-hot as `arl2 toy-data` writes it
// (toy/text.h); throws when the model's text_len or text_dim cannot hold them.
at::Tensor prompt_embeddings(const std::vector<std::string>& prompts, const model::ModelConfig& model);

} // namespace arl2::eval
