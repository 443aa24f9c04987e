// Mlp (see mlp.h).
#include "model/mlp.h"

#include <ATen/ATen.h>

namespace arl2::model {

at::Tensor activate(const at::Tensor& x, Activation activation) {
  return activation == Activation::kGeluTanh ? at::gelu(x, "tanh") : at::silu(x);
}

Mlp::Mlp(
    int64_t in_features,
    int64_t hidden_features,
    int64_t out_features,
    Activation activation,
    const at::TensorOptions& options)
    : fc_in(register_module("0", std::make_shared<Linear>(in_features, hidden_features, options))),
      fc_out(register_module("2", std::make_shared<Linear>(hidden_features, out_features, options))),
      activation_(activation) {}

at::Tensor Mlp::forward(const at::Tensor& x) const {
  return fc_out->forward(activate(fc_in->forward(x), activation_));
}

} // namespace arl2::model
