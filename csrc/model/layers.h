// The parameterised building blocks of the Wan DiT. They take TensorOptions at construction, unlike
// torch::nn's, so a model can be built on the meta device (names and shapes without memory) and in
// any dtype; their parameter names are those of torch.nn (weight, bias), as Wan's state dict expects.
#pragma once

#include <cstdint>
#include <optional>

#include <torch/nn/module.h>

#include "model/lora.h"

namespace arl2::model {

class Linear : public torch::nn::Module {
 public:
  // Without `with_bias`, `bias` stays undefined and no parameter of that name exists.
  Linear(int64_t in_features, int64_t out_features, const at::TensorOptions& options, bool with_bias = true);
  // x W^T + b, plus the adapter's delta once one is added.
  at::Tensor forward(const at::Tensor& x) const;
  // Adds a LoRA adapter (parameters lora_A, lora_B next to weight and bias, whose names stay Wan's).
  void add_lora(const LoraOptions& lora);
  // Folds the adapter into `weight` (summed in float64) and removes it with its parameters: the same
  // function at the cost of one GEMM. Nothing without an adapter.
  void merge_lora();
  const std::optional<LoraWeights>& lora() const {
    return lora_;
  }

  at::Tensor weight, bias; // [out, in], [out]

 private:
  std::optional<LoraWeights> lora_;
};

// Wan's RMSNorm: x / rms(x) * weight, normalised in float32 (arl2::rms_norm: one pass, one rounding).
class RMSNorm : public torch::nn::Module {
 public:
  RMSNorm(int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;

 private:
  double eps_;
};

// LayerNorm over the last dim with weight and bias (Wan's norm3). Wan's unweighted norms (norm1, norm2,
// head.norm) hold no parameters and come with a modulation: arl2::layer_norm_modulate computes them.
class LayerNorm : public torch::nn::Module {
 public:
  LayerNorm(int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight, bias;

 private:
  int64_t dim_;
  double eps_;
};

} // namespace arl2::model
