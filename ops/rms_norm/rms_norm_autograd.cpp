// Autograd of arl2::rms_norm. The backward is ATen math on the saved inputs, in float32 (float64 for
// float64), ops/specs/row_ops.md (4): differentiable again, and a few percent of a training step.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"
#include "arl2/ops.h"

namespace arl2::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x, weight});
    ctx->saved_data["eps"] = eps;
    return arl2::rms_norm(x, weight, eps);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1];
    const auto compute = compute_dtype(x);
    const auto xf = x.to(compute), dy = grads[0].to(compute);
    const auto r = at::rsqrt(xf.square().mean(-1, /*keepdim=*/true) + ctx->saved_data["eps"].toDouble());
    const auto n = xf * r;
    at::Tensor dx, dw;
    if (ctx->needs_input_grad(0)) {
      const auto dn = dy * weight.to(compute);
      dx = (r * (dn - n * (dn * n).mean(-1, /*keepdim=*/true))).to(x.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      dw = (dy * n).reshape_symint({-1, x.sym_size(-1)}).sum(0).to(weight.scalar_type());
    }
    return {dx, dw, at::Tensor()};
  }
};

at::Tensor rms_norm_autograd(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return RmsNormFunction::apply(x, weight, eps);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Autograd, m) {
  m.impl("rms_norm", &rms_norm_autograd);
}

} // namespace arl2::detail
