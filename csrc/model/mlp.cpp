// Mlp (see mlp.h).
#include "model/mlp.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

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
  // Without autograd on CUDA, the tanh GELU runs in the first GEMM's epilogue (cuBLASLt's GELU_BIAS, on the
  // float32 accumulator): one pass over the [..., hidden] activations fewer. _addmm_activation has no
  // derivative and its CPU kernel applies the exact GELU, so training and the CPU keep the separate GELU.
  const bool fused_gelu = activation_ == Activation::kGeluTanh && x.is_cuda() && !c10::GradMode::is_enabled() &&
                          !fc_in->lora() && fc_in->bias.defined() && x.scalar_type() == fc_in->weight.scalar_type();
  if (fused_gelu) {
    auto sizes = x.sizes().vec();
    sizes.back() = fc_in->weight.size(0);
    const auto hidden = at::_addmm_activation(
        fc_in->bias, x.reshape({-1, x.size(-1)}), fc_in->weight.t(), /*beta=*/1, /*alpha=*/1, /*use_gelu=*/true);
    return fc_out->forward(hidden.view(sizes));
  }
  return fc_out->forward(activate(fc_in->forward(x), activation_));
}

} // namespace arl2::model
