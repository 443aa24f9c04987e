// Meta kernel of arl2::layer_norm_modulate: the checks and the output's shape, with symbolic sizes.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"

namespace arl2::detail {
namespace {

at::Tensor layer_norm_modulate_meta(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  check_layer_norm_modulate_args(x, shift, scale, eps);
  return at::empty_like(x, {}, at::MemoryFormat::Contiguous);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Meta, m) {
  m.impl("layer_norm_modulate", &layer_norm_modulate_meta);
}

} // namespace arl2::detail
