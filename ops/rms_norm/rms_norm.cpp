// C++ API of arl2::rms_norm: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("arl2::rms_norm", "").typed<decltype(rms_norm)>();
  return op.call(x, weight, eps);
}

} // namespace arl2
