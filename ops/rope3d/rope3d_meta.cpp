// Meta kernel of arl2::rope3d: the checks and the output's shape, with symbolic sizes.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "rope3d_checks.h"

namespace arl2::detail {
namespace {

at::Tensor rope3d_meta(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset, bool) {
  check_rope3d_args(x, grid, frame_offset);
  return at::empty_like(x, {}, at::MemoryFormat::Contiguous);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Meta, m) {
  m.impl("rope3d", &rope3d_meta);
}

} // namespace arl2::detail
