// Autograd of arl2::gated_residual. The backward is ATen math on the saved inputs, in float32
// (float64 for float64), ops/specs/row_ops.md (6): differentiable again.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"
#include "arl2/ops.h"

namespace arl2::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class GatedResidualFunction : public torch::autograd::Function<GatedResidualFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({y, gate});
    return arl2::gated_residual(x, y, gate);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &y = saved[0], &gate = saved[1];
    const auto compute = compute_dtype(y);
    // [B, L, C] as [B, F, L / F, C], so gate [B, F, C] broadcasts as [B, F, 1, C].
    const std::vector<c10::SymInt> framed{y.sym_size(0), gate.sym_size(1), -1, y.sym_size(2)};
    const auto dout = grads[0].to(compute).reshape_symint(framed);
    at::Tensor dx, dy, dgate;
    if (ctx->needs_input_grad(0)) {
      dx = grads[0].to(y.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      dy = (dout * gate.to(compute).unsqueeze(2)).view_symint(y.sym_sizes()).to(y.scalar_type());
    }
    if (ctx->needs_input_grad(2)) {
      dgate = (dout * y.to(compute).reshape_symint(framed)).sum(2).to(gate.scalar_type());
    }
    return {dx, dy, dgate};
  }
};

at::Tensor gated_residual_autograd(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  return GatedResidualFunction::apply(x, y, gate);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Autograd, m) {
  m.impl("gated_residual", &gated_residual_autograd);
}

} // namespace arl2::detail
