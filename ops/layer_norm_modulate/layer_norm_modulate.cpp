// C++ API of arl2::layer_norm_modulate: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

at::Tensor layer_norm_modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("arl2::layer_norm_modulate", "")
                       .typed<decltype(layer_norm_modulate)>();
  return op.call(x, shift, scale, eps);
}

} // namespace arl2
