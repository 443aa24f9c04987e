// CUDA kernel of arl2::rms_norm: checks, device guard, the current stream, the torch-free launcher.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../common/kernel_dtype.h"
#include "../common/row_ops_checks.h"
#include "../kernels/cuda/row_ops_cuda.h"

namespace arl2::detail {
namespace {

at::Tensor rms_norm_cuda(const at::Tensor& x, const at::Tensor& weight, double eps) {
  check_rms_norm_args(x, weight, eps);
  check_cuda_dtype("rms_norm", x, "x");
  const c10::cuda::CUDAGuard device_guard(x.device());
  const auto x_c = x.contiguous(), w_c = weight.contiguous();
  auto y = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::rms_norm_cuda(rms_norm_params(x_c, w_c, eps, y), c10::cuda::getCurrentCUDAStream());
  return y;
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CUDA, m) {
  m.impl("rms_norm", &rms_norm_cuda);
}

} // namespace arl2::detail
