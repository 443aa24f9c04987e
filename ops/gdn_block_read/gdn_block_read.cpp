// C++ API of arl2::gdn_block_read: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

at::Tensor gdn_block_read(const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("arl2::gdn_block_read", "").typed<decltype(gdn_block_read)>();
  return op.call(q, states, block_len, scale);
}

namespace detail {

std::tuple<at::Tensor, at::Tensor> gdn_block_read_backward(
    const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("arl2::_gdn_block_read_backward", "")
                       .typed<decltype(gdn_block_read_backward)>();
  return op.call(d_o, q, states, block_len, scale);
}

at::Tensor gdn_block_read_gated(
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len,
    double scale) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("arl2::_gdn_block_read_gated", "")
                       .typed<decltype(gdn_block_read_gated)>();
  return op.call(residual, gate, q, states, block_len, scale);
}

} // namespace detail
} // namespace arl2
