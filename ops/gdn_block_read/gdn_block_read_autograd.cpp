// Autograd of arl2::gdn_block_read (same pattern as gdn_block_scan_autograd.cpp).
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "arl2/ops.h"

namespace arl2::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class GdnBlockReadFunction : public torch::autograd::Function<GdnBlockReadFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto o = arl2::gdn_block_read(q, states, block_len, scale);
    ctx->save_for_backward({q, states});
    ctx->saved_data["block_len"] = block_len;
    ctx->saved_data["scale"] = scale;
    return o;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [dq, d_states] = arl2::detail::gdn_block_read_backward(
        grads[0], saved[0], saved[1], ctx->saved_data["block_len"].toInt(), ctx->saved_data["scale"].toDouble());
    return {dq, d_states, at::Tensor(), at::Tensor()};
  }
};

// o = residual + gate * read: d_residual = d_o, d_gate = sum_v d_o * read (the read recomputed, not saved:
// one pass the size of o), and the read's backward of d_o * gate.
class GdnBlockReadGatedFunction : public torch::autograd::Function<GdnBlockReadGatedFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx,
      const at::Tensor& residual,
      const at::Tensor& gate,
      const at::Tensor& q,
      const at::Tensor& states,
      int64_t block_len,
      double scale) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto o = arl2::detail::gdn_block_read_gated(residual, gate, q, states, block_len, scale);
    ctx->save_for_backward({gate, q, states});
    ctx->saved_data["block_len"] = block_len;
    ctx->saved_data["scale"] = scale;
    return o;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &d_o = grads[0], &gate = saved[0], &q = saved[1], &states = saved[2];
    const int64_t block_len = ctx->saved_data["block_len"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble();
    at::Tensor d_gate, dq, d_states;
    if (ctx->needs_input_grad(1)) {
      const auto acc = at::promote_types(gate.scalar_type(), at::kFloat);
      const auto read = arl2::gdn_block_read(q, states, block_len, scale);
      d_gate = (d_o.to(acc) * read.to(acc)).sum(-1).to(gate.scalar_type());
    }
    if (ctx->needs_input_grad(2) || ctx->needs_input_grad(3)) {
      std::tie(dq, d_states) =
          arl2::detail::gdn_block_read_backward(d_o * gate.unsqueeze(-1), q, states, block_len, scale);
    }
    return {d_o, d_gate, dq, d_states, at::Tensor(), at::Tensor()};
  }
};

class GdnBlockReadBackwardFunction : public torch::autograd::Function<GdnBlockReadBackwardFunction> {
 public:
  static variable_list forward(
      AutogradContext*,
      const at::Tensor& d_o,
      const at::Tensor& q,
      const at::Tensor& states,
      int64_t block_len,
      double scale) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [dq, d_states] = arl2::detail::gdn_block_read_backward(d_o, q, states, block_len, scale);
    return {dq, d_states};
  }

  static variable_list backward(AutogradContext*, variable_list) {
    TORCH_CHECK(false, "arl2::gdn_block_read: double backward is not supported");
  }
};

at::Tensor gdn_block_read_autograd(const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  return GdnBlockReadFunction::apply(q, states, block_len, scale);
}

at::Tensor gdn_block_read_gated_autograd(
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len,
    double scale) {
  return GdnBlockReadGatedFunction::apply(residual, gate, q, states, block_len, scale);
}

std::tuple<at::Tensor, at::Tensor> gdn_block_read_backward_autograd(
    const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  auto out = GdnBlockReadBackwardFunction::apply(d_o, q, states, block_len, scale);
  return {out[0], out[1]};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Autograd, m) {
  m.impl("gdn_block_read", &gdn_block_read_autograd);
  m.impl("_gdn_block_read_backward", &gdn_block_read_backward_autograd);
  m.impl("_gdn_block_read_gated", &gdn_block_read_gated_autograd);
}

} // namespace arl2::detail
