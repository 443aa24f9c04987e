// LoraWeights and add_lora (see lora.h).
#include "model/lora.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>

namespace arl2::model {

at::Tensor LoraWeights::add_delta(const at::Tensor& y, const at::Tensor& x) const {
  return add_up(y, at::matmul(x, A));
}

at::Tensor LoraWeights::add_up(const at::Tensor& y, const at::Tensor& xa) const {
  return at::addmm(y.reshape({-1, y.size(-1)}), xa.reshape({-1, xa.size(-1)}), B, /*beta=*/1, /*alpha=*/scale)
      .view(y.sizes());
}

at::Tensor LoraWeights::weight_delta() const {
  return at::mm(A.to(at::kDouble), B.to(at::kDouble)).t() * scale;
}

std::pair<std::string, std::string> lora_parameter_names(const std::string& prefix) {
  return {prefix + "_A", prefix + "_B"};
}

LoraWeights add_lora(
    torch::nn::Module& owner,
    const std::string& prefix,
    int64_t in_features,
    int64_t out_features,
    const LoraOptions& lora,
    const at::TensorOptions& options) {
  TORCH_CHECK(lora.rank > 0, "LoRA: rank (", lora.rank, ") must be positive");
  TORCH_CHECK(lora.alpha > 0, "LoRA: alpha (", lora.alpha, ") must be positive");
  LoraWeights w;
  const auto [a_name, b_name] = lora_parameter_names(prefix);
  w.A = owner.register_parameter(a_name, at::empty({in_features, lora.rank}, options));
  w.B = owner.register_parameter(b_name, at::zeros({lora.rank, out_features}, options));
  w.scale = lora.alpha / static_cast<double>(lora.rank);
  c10::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(w.A, std::sqrt(5.0));
  return w;
}

} // namespace arl2::model
