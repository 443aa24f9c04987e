// Autograd of arl2::_gdn_block_scan_forward (vision's roi_align autograd pattern; gdn_block_scan is its
// first two outputs): the forward calls the op below the Autograd key and saves the transitions, the
// backward calls arl2::_gdn_block_scan_backward through the dispatcher. Gradients are not
// materialised, so an unused output (often final_state) costs no zero tensor.
#include <torch/autograd.h>
#include <torch/library.h>

#include "arl2/ops.h"

namespace arl2::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class GdnBlockScanFunction : public torch::autograd::Function<GdnBlockScanFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx,
      const at::Tensor& k,
      const at::Tensor& v,
      const at::Tensor& g,
      const at::Tensor& beta,
      int64_t block_len,
      const std::optional<at::Tensor>& initial_state) {
    ctx->set_materialize_grads(false);
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [states, final_state, transitions] =
        arl2::detail::gdn_block_scan_forward(k, v, g, beta, block_len, initial_state);
    ctx->save_for_backward({k, v, g, beta, states, transitions});
    ctx->mark_non_differentiable({transitions});
    ctx->saved_data["block_len"] = block_len;
    ctx->saved_data["has_initial_state"] = initial_state.has_value() && initial_state->defined();
    return {states, final_state, transitions};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool has_initial_state = ctx->saved_data["has_initial_state"].toBool();
    if (!grads[0].defined() && !grads[1].defined()) { // grads[2], of the transitions, is never defined
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    const auto as_optional = [](const at::Tensor& t) {
      return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
    };
    auto [dk, dv, dg, dbeta, d_initial] = arl2::detail::gdn_block_scan_backward(
        as_optional(grads[0]),
        as_optional(grads[1]),
        saved[0],
        saved[1],
        saved[2],
        saved[3],
        saved[4],
        saved[5],
        ctx->saved_data["block_len"].toInt());
    return {dk, dv, dg, dbeta, at::Tensor(), has_initial_state ? d_initial : at::Tensor()};
  }
};

// The backward op is not differentiable again: calling it under autograd and then differentiating
// its outputs raises instead of silently returning wrong second derivatives.
class GdnBlockScanBackwardFunction : public torch::autograd::Function<GdnBlockScanBackwardFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx,
      const std::optional<at::Tensor>& d_states,
      const std::optional<at::Tensor>& d_final_state,
      const at::Tensor& k,
      const at::Tensor& v,
      const at::Tensor& g,
      const at::Tensor& beta,
      const at::Tensor& states,
      const at::Tensor& transitions,
      int64_t block_len) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [dk, dv, dg, dbeta, d_initial] =
        arl2::detail::gdn_block_scan_backward(d_states, d_final_state, k, v, g, beta, states, transitions, block_len);
    return {dk, dv, dg, dbeta, d_initial};
  }

  static variable_list backward(AutogradContext*, variable_list) {
    TORCH_CHECK(false, "arl2::gdn_block_scan: double backward is not supported");
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_forward_autograd(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  auto out = GdnBlockScanFunction::apply(k, v, g, beta, block_len, initial_state);
  return {out[0], out[1], out[2]};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_backward_autograd(
    const std::optional<at::Tensor>& d_states,
    const std::optional<at::Tensor>& d_final_state,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    const at::Tensor& states,
    const at::Tensor& transitions,
    int64_t block_len) {
  auto out =
      GdnBlockScanBackwardFunction::apply(d_states, d_final_state, k, v, g, beta, states, transitions, block_len);
  return {out[0], out[1], out[2], out[3], out[4]};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Autograd, m) {
  m.impl("_gdn_block_scan_forward", &gdn_block_scan_forward_autograd);
  m.impl("_gdn_block_scan_backward", &gdn_block_scan_backward_autograd);
}

} // namespace arl2::detail
