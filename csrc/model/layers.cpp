// Linear, RMSNorm and LayerNorm (see layers.h).
#include "model/layers.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "arl2/ops.h"

namespace arl2::model {
namespace {

constexpr const char* kLoraPrefix = "lora"; // lora_A, lora_B next to weight and bias

} // namespace

Linear::Linear(int64_t in_features, int64_t out_features, const at::TensorOptions& options, bool with_bias) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options));
  if (with_bias) {
    bias = register_parameter("bias", at::zeros({out_features}, options));
  }
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  const auto y = at::linear(x, weight, bias);
  return lora_ ? lora_->add_delta(y, x) : y;
}

void Linear::merge_lora() {
  if (!lora_) {
    return;
  }
  c10::NoGradGuard no_grad;
  weight.copy_(weight.to(at::kDouble) + lora_->weight_delta());
  const auto [a_name, b_name] = lora_parameter_names(kLoraPrefix);
  parameters_.erase(a_name);
  parameters_.erase(b_name);
  lora_.reset();
}

void Linear::add_lora(const LoraOptions& lora) {
  TORCH_CHECK(!lora_, "Linear: a LoRA adapter was already added");
  lora_ = model::add_lora(*this, kLoraPrefix, weight.size(1), weight.size(0), lora, weight.options());
}

RMSNorm::RMSNorm(int64_t dim, double eps, const at::TensorOptions& options) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}, options));
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  // A float32 weight under autocast (stage 0 in bfloat16) meets x in bfloat16; the fused op takes one dtype.
  return rms_norm(x, weight.to(x.scalar_type()), eps_);
}

LayerNorm::LayerNorm(int64_t dim, double eps, const at::TensorOptions& options) : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}, options));
  bias = register_parameter("bias", at::zeros({dim}, options));
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  // LayerNorm accumulates in float32 for bfloat16 / float16 inputs, as Wan's float32 copy did; under
  // autocast it returns float32, which the cast takes back to x's dtype.
  return at::layer_norm(x, {dim_}, weight, bias, eps_).to(x.scalar_type());
}

} // namespace arl2::model
