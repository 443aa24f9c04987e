// Argument checks of arl2::rope3d (see rope3d_checks.h).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "rope3d_checks.h"

#include <c10/util/Exception.h>

#include "../common/kernel_dtype.h"

namespace arl2::detail {

void check_rope3d_args(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset) {
  TORCH_CHECK(x.defined(), "rope3d: x is undefined; expected a tensor of shape [B, L, H, D]");
  TORCH_CHECK(x.dim() == 4, "rope3d: x must have shape [B, L, H, D] (4 dims), got ", x.sym_sizes());
  const auto t = x.scalar_type();
  TORCH_CHECK(
      t == at::kFloat || t == at::kBFloat16 || t == at::kHalf || t == at::kDouble,
      "rope3d: x must be float32, bfloat16, float16 or float64, got ",
      t);
  TORCH_CHECK(x.sym_size(3) % 2 == 0, "rope3d: the head dim D of x must be even, got D = ", x.sym_size(3));
  TORCH_CHECK(grid.size() == 3, "rope3d: grid must be [frames, height, width], got ", grid.size(), " values");
  TORCH_CHECK(
      grid[0] >= 0 && grid[1] >= 1 && grid[2] >= 1,
      "rope3d: grid must hold frames >= 0, height >= 1, width >= 1, got ",
      grid);
  TORCH_CHECK(
      x.sym_size(1) == grid[0] * grid[1] * grid[2],
      "rope3d: x has L = ",
      x.sym_size(1),
      " tokens but grid ",
      grid,
      " holds ",
      grid[0] * grid[1] * grid[2]);
  TORCH_CHECK(frame_offset >= 0, "rope3d: frame_offset must be >= 0, got ", frame_offset);
}

kernels::Rope3dParams rope3d_params(
    const at::Tensor& x, at::Tensor& y, c10::IntArrayRef grid, int64_t frame_offset, bool inverse) {
  kernels::Rope3dParams p;
  p.batch = x.size(0);
  p.tokens = x.size(1);
  p.heads = x.size(2);
  p.dim = x.size(3);
  p.frames = grid[0];
  p.height = grid[1];
  p.width = grid[2];
  p.frame_offset = frame_offset;
  p.inverse = inverse;
  p.dtype = to_kernel_dtype(x.scalar_type());
  p.x_stride_b = x.stride(0);
  p.x_stride_l = x.stride(1);
  p.x_stride_h = x.stride(2);
  p.x = x.const_data_ptr();
  p.y = y.mutable_data_ptr();
  return p;
}

} // namespace arl2::detail
