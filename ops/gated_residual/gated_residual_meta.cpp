// Meta kernel of arl2::gated_residual: the checks and the output's shape, with symbolic sizes.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"

namespace arl2::detail {
namespace {

at::Tensor gated_residual_meta(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual_args(x, y, gate);
  return at::empty_like(x, {}, at::MemoryFormat::Contiguous);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Meta, m) {
  m.impl("gated_residual", &gated_residual_meta);
}

} // namespace arl2::detail
