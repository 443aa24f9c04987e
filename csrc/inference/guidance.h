// Classifier-free guidance (GeneratorOptions::guidance_scale): the model runs every item under its prompt and
// under the empty prompt in one batch, and the two flows combine as u + scale * (c - u).
#pragma once

#include <ATen/core/Tensor.h>

namespace arl2::inference {

// [B, L, D] prompts -> [2B, L, D]: the prompts, then B empty prompts (the all-zero embedding: what the model's
// zero padding makes of a prompt with no tokens, and what train.prompt_dropout trains on).
at::Tensor with_empty_prompts(const at::Tensor& text);

// The flow [2B, ...] of a batch made by with_empty_prompts -> the guided flow [B, ...].
at::Tensor guided_flow(const at::Tensor& flow, double scale);

} // namespace arl2::inference
