// Translation between torch scalar types and the torch-free kernels' DType, and the glue helpers every
// op shares.
#pragma once

#include <ATen/core/Tensor.h>

#include "../kernels/common/dtype.h"

namespace arl2::detail {

kernels::DType to_kernel_dtype(at::ScalarType dtype);

// float64 runs on the CPU only; `t` is the tensor whose dtype the op follows.
void check_cuda_dtype(const char* op, const at::Tensor& t, const char* name);

// `t` as the CUDA kernels read it: contiguous and 16-byte aligned (they use 16-byte vector accesses);
// copies only when `t` is not already so, e.g. a strided view or one at an odd storage offset.
at::Tensor dense_aligned(const at::Tensor& t);

} // namespace arl2::detail
