// Meta kernel of arl2::rms_norm: the checks and the output's shape, with symbolic sizes.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/row_ops_checks.h"

namespace arl2::detail {
namespace {

at::Tensor rms_norm_meta(const at::Tensor& x, const at::Tensor& weight, double eps) {
  check_rms_norm_args(x, weight, eps);
  return at::empty_like(x, {}, at::MemoryFormat::Contiguous);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Meta, m) {
  m.impl("rms_norm", &rms_norm_meta);
}

} // namespace arl2::detail
