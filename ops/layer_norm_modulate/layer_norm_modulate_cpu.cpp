// CPU kernel of arl2::layer_norm_modulate: checks, upcast of bfloat16 / float16 to float32, the
// reference loop.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"
#include "../kernels/cpu/row_ops_ref.h"

namespace arl2::detail {
namespace {

at::Tensor layer_norm_modulate_cpu(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  check_layer_norm_modulate_args(x, shift, scale, eps);
  const auto compute = compute_dtype(x);
  const auto x_c = x.to(compute).contiguous();
  const auto shift_c = shift.to(compute).contiguous(), scale_c = scale.to(compute).contiguous();
  auto y = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::layer_norm_modulate_cpu(layer_norm_modulate_params(x_c, shift_c, scale_c, eps, y));
  return y.to(x.scalar_type());
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CPU, m) {
  m.impl("layer_norm_modulate", &layer_norm_modulate_cpu);
}

} // namespace arl2::detail
