// C++ API of arl2::hybrid_attention: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

at::Tensor hybrid_attention(
    const at::Tensor& q,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& q_mem,
    const at::Tensor& states,
    const at::Tensor& gate,
    int64_t block_len,
    std::optional<double> scale,
    std::optional<double> mem_scale) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("arl2::hybrid_attention", "").typed<decltype(hybrid_attention)>();
  return op.call(q, k, v, q_mem, states, gate, block_len, scale, mem_scale);
}

} // namespace arl2
