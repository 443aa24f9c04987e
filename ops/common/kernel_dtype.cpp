// Glue helpers shared by every op (see kernel_dtype.h).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "kernel_dtype.h"

#include <cstdint>

#include <c10/util/Exception.h>

namespace arl2::detail {

kernels::DType to_kernel_dtype(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return kernels::DType::kFloat32;
    case at::kBFloat16:
      return kernels::DType::kBFloat16;
    case at::kHalf:
      return kernels::DType::kFloat16;
    case at::kDouble:
      return kernels::DType::kFloat64;
    default:
      TORCH_CHECK(false, "arl2: unsupported dtype ", dtype);
  }
}

void check_cuda_dtype(const char* op, const at::Tensor& t, const char* name) {
  TORCH_CHECK(
      t.scalar_type() != at::kDouble,
      op,
      ": ",
      name,
      " is float64, which runs on the CPU only; on CUDA pass float32, bfloat16 or float16");
}

at::Tensor dense_aligned(const at::Tensor& t) {
  const bool aligned = reinterpret_cast<uintptr_t>(t.const_data_ptr()) % 16 == 0;
  return t.is_contiguous() && aligned ? t : t.clone(at::MemoryFormat::Contiguous);
}

} // namespace arl2::detail
