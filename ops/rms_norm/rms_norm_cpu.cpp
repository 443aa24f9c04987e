// CPU kernel of arl2::rms_norm: checks, upcast of bfloat16 / float16 to float32, the reference loop.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"
#include "../kernels/cpu/row_ops_ref.h"

namespace arl2::detail {
namespace {

at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps) {
  check_rms_norm_args(x, weight, eps);
  const auto compute = compute_dtype(x);
  const auto x_c = x.to(compute).contiguous(), w_c = weight.to(compute).contiguous();
  auto y = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::rms_norm_cpu(rms_norm_params(x_c, w_c, eps, y));
  return y.to(x.scalar_type());
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CPU, m) {
  m.impl("rms_norm", &rms_norm_cpu);
}

} // namespace arl2::detail
