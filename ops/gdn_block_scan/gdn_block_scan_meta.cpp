// Meta kernels of arl2::gdn_block_scan: the same checks and output shapes, with symbolic sizes, so
// fake tensors and torch.compile need no Python registration.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/gdn_checks.h"

namespace arl2::detail {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_forward_meta(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  check_scan_args("gdn_block_scan", k, v, g, beta, block_len, initial_state);
  const auto opts = k.options().dtype(gdn_state_dtype(k.scalar_type()));
  const auto B = k.sym_size(0), T = k.sym_size(1), H = k.sym_size(2), K = k.sym_size(3), V = v.sym_size(3);
  auto states = at::empty_symint({B, T / block_len, H, K, V}, opts);
  auto final_state = at::empty_symint({B, H, K, V}, opts);
  auto transitions = at::empty_symint(gdn_transitions_shape(k, block_len), opts);
  return {states, final_state, transitions};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_backward_meta(
    const std::optional<at::Tensor>& d_states,
    const std::optional<at::Tensor>& d_final_state,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    const at::Tensor& states,
    const at::Tensor& transitions,
    int64_t block_len) {
  check_scan_backward_args(
      "gdn_block_scan backward", d_states, d_final_state, k, v, g, beta, states, transitions, block_len);
  auto d_initial = at::empty_symint({k.sym_size(0), k.sym_size(2), k.sym_size(3), v.sym_size(3)}, states.options());
  return {
      at::empty_like(k, {}, at::MemoryFormat::Contiguous),
      at::empty_like(v, {}, at::MemoryFormat::Contiguous),
      at::empty_like(g, {}, at::MemoryFormat::Contiguous),
      at::empty_like(beta, {}, at::MemoryFormat::Contiguous),
      d_initial};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Meta, m) {
  m.impl("_gdn_block_scan_forward", &gdn_block_scan_forward_meta);
  m.impl("_gdn_block_scan_backward", &gdn_block_scan_backward_meta);
}

} // namespace arl2::detail
