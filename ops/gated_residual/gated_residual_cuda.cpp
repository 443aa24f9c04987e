// CUDA kernel of arl2::gated_residual: checks, device guard, the current stream, the torch-free
// launcher. gate is read in place when it is a slice of the modulation tensor.
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

at::Tensor gated_residual_cuda(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual_args(x, y, gate);
  check_cuda_dtype("gated_residual", x, "x");
  const c10::cuda::CUDAGuard device_guard(x.device());
  const auto x_c = x.contiguous(), y_c = y.contiguous();
  auto out = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::gated_residual_cuda(
      gated_residual_params(x_c, y_c, unit_stride_rows(gate), out), c10::cuda::getCurrentCUDAStream());
  return out;
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CUDA, m) {
  m.impl("gated_residual", &gated_residual_cuda);
}

} // namespace arl2::detail
