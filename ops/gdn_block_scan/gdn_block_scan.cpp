// C++ API of arl2::gdn_block_scan: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

std::tuple<at::Tensor, at::Tensor> gdn_block_scan(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("arl2::gdn_block_scan", "").typed<decltype(gdn_block_scan)>();
  return op.call(k, v, g, beta, block_len, initial_state);
}

namespace detail {

std::tuple<at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_forward(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("arl2::_gdn_block_scan_forward", "")
                       .typed<decltype(gdn_block_scan_forward)>();
  return op.call(k, v, g, beta, block_len, initial_state);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_backward(
    const std::optional<at::Tensor>& d_states,
    const std::optional<at::Tensor>& d_final_state,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    const at::Tensor& states,
    const at::Tensor& transitions,
    int64_t block_len) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("arl2::_gdn_block_scan_backward", "")
                       .typed<decltype(gdn_block_scan_backward)>();
  return op.call(d_states, d_final_state, k, v, g, beta, states, transitions, block_len);
}

} // namespace detail
} // namespace arl2
