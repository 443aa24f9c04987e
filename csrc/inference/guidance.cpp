// Classifier-free guidance (see guidance.h).
#include "inference/guidance.h"

#include <ATen/ATen.h>

namespace arl2::inference {

at::Tensor with_empty_prompts(const at::Tensor& text) {
  return at::cat({text, at::zeros_like(text)});
}

at::Tensor guided_flow(const at::Tensor& flow, double scale) {
  const auto halves = flow.chunk(2);
  return at::lerp(halves[1], halves[0], scale);
}

} // namespace arl2::inference
