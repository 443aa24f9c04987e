// C++ API of arl2::gated_residual: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("arl2::gated_residual", "").typed<decltype(gated_residual)>();
  return op.call(x, y, gate);
}

} // namespace arl2
