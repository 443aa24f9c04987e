// arl2::check_finite: the opt-in scan for NaN and infinity in an op's inputs.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/isfinite.h>
#include <c10/core/ScalarType.h>

#include "arl2/ops.h"

namespace arl2 {

void check_finite(const at::Tensor& t, std::string_view name) {
  TORCH_CHECK(t.defined(), "arl2: ", name, " is undefined");
  if (!at::isFloatingType(t.scalar_type())) {
    return;
  }
  TORCH_CHECK(at::isfinite(t).all().item<bool>(), "arl2: ", name, " holds NaN or infinite values");
}

} // namespace arl2
