// Linear, RMSNorm and LayerNorm (see layers.h).
#include "model/layers.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::model {
namespace {

// Wan normalises in float32 even when the model runs in bfloat16; float64 stays float64.
at::Tensor upcast(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
}

} // namespace

Linear::Linear(int64_t in_features, int64_t out_features, const at::TensorOptions& options, bool with_bias) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options));
  if (with_bias) {
    bias = register_parameter("bias", at::zeros({out_features}, options));
  }
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  const auto y = at::linear(x, weight, bias);
  return lora_ ? y + lora_->delta(x) : y;
}

void Linear::add_lora(const LoraOptions& lora) {
  TORCH_CHECK(!lora_, "Linear: a LoRA adapter was already added");
  lora_ = model::add_lora(*this, "lora", weight.size(1), weight.size(0), lora, weight.options());
}

RMSNorm::RMSNorm(int64_t dim, double eps, const at::TensorOptions& options) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}, options));
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const auto xf = upcast(x);
  const auto normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return normed.to(x.scalar_type()) * weight;
}

LayerNorm::LayerNorm(int64_t dim, double eps, bool affine, const at::TensorOptions& options) : dim_(dim), eps_(eps) {
  if (affine) {
    weight = register_parameter("weight", at::ones({dim}, options));
    bias = register_parameter("bias", at::zeros({dim}, options));
  }
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  const auto xf = upcast(x);
  const bool affine = weight.defined();
  const auto y =
      at::layer_norm(xf, {dim_}, affine ? upcast(weight) : at::Tensor(), affine ? upcast(bias) : at::Tensor(), eps_);
  return y.to(x.scalar_type());
}

} // namespace arl2::model
