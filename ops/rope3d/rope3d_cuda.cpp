// CUDA kernel of arl2::rope3d: checks, device guard, the current stream, the torch-free launcher.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../common/kernel_dtype.h"
#include "../kernels/cuda/rope3d_cuda.h"
#include "rope3d_checks.h"

namespace arl2::detail {
namespace {

at::Tensor rope3d_cuda(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset, bool inverse) {
  check_rope3d_args(x, grid, frame_offset);
  check_cuda_dtype("rope3d", x, "x");
  const c10::cuda::CUDAGuard device_guard(x.device());
  // The kernel reads x through its strides; only a strided head dim is gathered first.
  const auto x_d = x.stride(3) == 1 ? x : x.contiguous();
  auto y = at::empty_like(x_d, {}, at::MemoryFormat::Contiguous);
  kernels::rope3d_cuda(rope3d_params(x_d, y, grid, frame_offset, inverse), c10::cuda::getCurrentCUDAStream());
  return y;
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CUDA, m) {
  m.impl("rope3d", &rope3d_cuda);
}

} // namespace arl2::detail
