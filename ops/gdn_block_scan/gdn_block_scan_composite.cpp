// arl2::gdn_block_scan is the first two outputs of arl2::_gdn_block_scan_forward, whose kernels and
// autograd do the work: one implementation per backend, and the backward gets the transitions.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <torch/library.h>

#include "arl2/ops.h"

namespace arl2::detail {
namespace {

std::tuple<at::Tensor, at::Tensor> gdn_block_scan_composite(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  auto [states, final_state, transitions] = gdn_block_scan_forward(k, v, g, beta, block_len, initial_state);
  return {states, final_state};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CompositeImplicitAutograd, m) {
  m.impl("gdn_block_scan", &gdn_block_scan_composite);
}

} // namespace arl2::detail
