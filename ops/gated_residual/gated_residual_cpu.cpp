// CPU kernel of arl2::gated_residual: checks, upcast of bfloat16 / float16 to float32, the reference
// loop.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"
#include "../kernels/cpu/row_ops_ref.h"

namespace arl2::detail {
namespace {

at::Tensor gated_residual_cpu(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual_args(x, y, gate);
  const auto compute = compute_dtype(x);
  const auto x_c = x.to(compute).contiguous(), y_c = y.to(compute).contiguous();
  const auto gate_c = gate.to(compute).contiguous();
  auto out = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::gated_residual_cpu(gated_residual_params(x_c, y_c, gate_c, out));
  return out.to(x.scalar_type());
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CPU, m) {
  m.impl("gated_residual", &gated_residual_cpu);
}

} // namespace arl2::detail
