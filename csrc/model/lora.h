// Low-rank adapters (LoRA) for stage 2 of the distillation: delta(x) = (x A) B * alpha / rank with
// A [in, rank] and B [rank, out], as the authors store them (lora_q_A, lora_q_B, ... in the hybrid
// layer; lora_A, lora_B on an FFN linear). B starts at zero, so an added adapter changes nothing
// until it is trained; A starts as the authors' Kaiming-uniform (a = sqrt 5).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace arl2::model {

struct LoraOptions {
  int64_t rank = 16;
  double alpha = 32.0;
};

struct LoraWeights {
  at::Tensor A, B; // [in, rank], [rank, out]
  double scale = 0.0;

  // y + delta(x) for x [..., in] and y [..., out]: x A in one GEMM, then add_up(y, x A).
  at::Tensor add_delta(const at::Tensor& y, const at::Tensor& x) const;
  // y + (xa B) scale for xa = x A [..., rank] formed already (e.g. as columns of a wider GEMM), in one GEMM
  // whose epilogue adds y (one rounding, no [..., out] temporaries).
  at::Tensor add_up(const at::Tensor& y, const at::Tensor& xa) const;
  // (A B)^T scale [out, in], in float64: what the adapter adds to a linear's weight.
  at::Tensor weight_delta() const;
};

// The names add_lora registers for `prefix`: `<prefix>_A` and `<prefix>_B`.
std::pair<std::string, std::string> lora_parameter_names(const std::string& prefix);

// Registers `<prefix>_A` and `<prefix>_B` on `owner`, in `options`, and returns them.
LoraWeights add_lora(
    torch::nn::Module& owner,
    const std::string& prefix,
    int64_t in_features,
    int64_t out_features,
    const LoraOptions& lora,
    const at::TensorOptions& options);

} // namespace arl2::model
