// CPU kernel of arl2::rope3d: checks, upcast of bfloat16 / float16 to float32, the reference loop.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../kernels/cpu/rope3d_ref.h"
#include "rope3d_checks.h"

namespace arl2::detail {
namespace {

at::Tensor rope3d_cpu(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset, bool inverse) {
  check_rope3d_args(x, grid, frame_offset);
  const auto compute = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto x_c = x.to(compute).contiguous();
  auto y = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::rope3d_cpu(rope3d_params(x_c, y, grid, frame_offset, inverse));
  return y.to(x.scalar_type());
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CPU, m) {
  m.impl("rope3d", &rope3d_cpu);
}

} // namespace arl2::detail
