// CUDA kernel of arl2::layer_norm_modulate: checks, device guard, the current stream, the torch-free
// launcher. shift and scale are read in place when they are slices of one modulation tensor.
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

at::Tensor layer_norm_modulate_cuda(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  check_layer_norm_modulate_args(x, shift, scale, eps);
  check_cuda_dtype("layer_norm_modulate", x, "x");
  const c10::cuda::CUDAGuard device_guard(x.device());
  const auto x_c = x.contiguous();
  const auto [shift_r, scale_r] = modulation_rows(shift, scale);
  auto y = at::empty_like(x_c, {}, at::MemoryFormat::Contiguous);
  kernels::layer_norm_modulate_cuda(
      layer_norm_modulate_params(x_c, shift_r, scale_r, eps, y), c10::cuda::getCurrentCUDAStream());
  return y;
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CUDA, m) {
  m.impl("layer_norm_modulate", &layer_norm_modulate_cuda);
}

} // namespace arl2::detail
