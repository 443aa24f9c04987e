// Autograd of arl2::layer_norm_modulate. The backward is ATen math on the saved inputs, in float32
// (float64 for float64), ops/specs/row_ops.md (5): differentiable again.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"
#include "arl2/ops.h"

namespace arl2::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class LayerNormModulateFunction : public torch::autograd::Function<LayerNormModulateFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx, const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x, scale});
    ctx->saved_data["eps"] = eps;
    return arl2::layer_norm_modulate(x, shift, scale, eps);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &scale = saved[1];
    const auto compute = compute_dtype(x);
    // [B, L, C] as [B, F, L / F, C], so the per-frame [B, F, C] operands broadcast as [B, F, 1, C].
    const std::vector<c10::SymInt> framed{x.sym_size(0), scale.sym_size(1), -1, x.sym_size(2)};
    const auto xf = x.to(compute).reshape_symint(framed), dy = grads[0].to(compute).reshape_symint(framed);
    const auto centred = xf - xf.mean(-1, /*keepdim=*/true);
    const auto r = at::rsqrt(centred.square().mean(-1, /*keepdim=*/true) + ctx->saved_data["eps"].toDouble());
    const auto n = centred * r;
    at::Tensor dx, dshift, dscale;
    if (ctx->needs_input_grad(0)) {
      const auto dn = dy * (1 + scale.to(compute).unsqueeze(2));
      const auto dx_framed = r * (dn - dn.mean(-1, /*keepdim=*/true) - n * (dn * n).mean(-1, /*keepdim=*/true));
      dx = dx_framed.view_symint(x.sym_sizes()).to(x.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      dshift = dy.sum(2).to(scale.scalar_type());
    }
    if (ctx->needs_input_grad(2)) {
      dscale = (dy * n).sum(2).to(scale.scalar_type());
    }
    return {dx, dshift, dscale, at::Tensor()};
  }
};

at::Tensor layer_norm_modulate_autograd(
    const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  return LayerNormModulateFunction::apply(x, shift, scale, eps);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Autograd, m) {
  m.impl("layer_norm_modulate", &layer_norm_modulate_autograd);
}

} // namespace arl2::detail
