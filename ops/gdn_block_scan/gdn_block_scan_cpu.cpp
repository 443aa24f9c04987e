// CPU kernels of arl2::gdn_block_scan (forward and backward): checks, upcast of bfloat16 / float16 to
// float32, then the token-loop reference in ops/kernels/cpu. The backward does not need the
// transitions (it replays each block from its state); it checks and ignores them.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>

#include "../common/cpu_lanes.h"
#include "../common/gdn_checks.h"
#include "../kernels/cpu/gdn_ref.h"

namespace arl2::detail {
namespace {

at::Tensor as_compute(const at::Tensor& t, at::ScalarType dtype) {
  return t.to(dtype).contiguous();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_forward_cpu(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  check_scan_args("gdn_block_scan", k, v, g, beta, block_len, initial_state);
  const auto dtype = gdn_state_dtype(k.scalar_type());
  const auto k_c = as_compute(k, dtype), v_c = as_compute(v, dtype);
  const auto g_c = g.contiguous(), beta_c = beta.contiguous();
  const auto h0 = defined_or_null(initial_state);
  const auto h0_c = h0 ? h0->contiguous() : at::Tensor();

  kernels::GdnScanFwdParams p;
  p.shape = gdn_shape(k, v.size(3), block_len);
  p.dtype = to_kernel_dtype(dtype);
  auto states = at::empty(
      {p.shape.batch, p.shape.num_blocks(), p.shape.heads, p.shape.dim_k, p.shape.dim_v}, k.options().dtype(dtype));
  auto final_state = at::empty({p.shape.batch, p.shape.heads, p.shape.dim_k, p.shape.dim_v}, k.options().dtype(dtype));
  auto transitions = at::empty(
      {p.shape.batch, std::max<int64_t>(p.shape.num_blocks() - 1, 0), p.shape.heads, p.shape.dim_k, p.shape.dim_k},
      k.options().dtype(dtype));
  p.k = k_c.const_data_ptr();
  p.v = v_c.const_data_ptr();
  p.g = g_c.const_data_ptr();
  p.beta = beta_c.const_data_ptr();
  p.initial_state = h0 ? h0_c.const_data_ptr() : nullptr;
  p.states = states.mutable_data_ptr();
  p.final_state = final_state.mutable_data_ptr();
  p.transitions = transitions.mutable_data_ptr();
  run_cpu_lanes(p, kernels::gdn_block_scan_fwd_cpu);
  return {states, final_state, transitions};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_backward_cpu(
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
  const auto dtype = gdn_state_dtype(k.scalar_type());
  const auto k_c = as_compute(k, dtype), v_c = as_compute(v, dtype);
  const auto g_c = g.contiguous(), beta_c = beta.contiguous(), states_c = states.contiguous();
  const auto ds = defined_or_null(d_states), dfin = defined_or_null(d_final_state);
  const auto ds_c = ds ? ds->contiguous() : at::Tensor(), dfin_c = dfin ? dfin->contiguous() : at::Tensor();

  kernels::GdnScanBwdParams p;
  p.shape = gdn_shape(k, v.size(3), block_len);
  p.dtype = to_kernel_dtype(dtype);
  auto dk = at::empty_like(k_c), dv = at::empty_like(v_c);
  auto dg = at::empty_like(g_c), dbeta = at::empty_like(beta_c);
  auto d_initial = at::empty({p.shape.batch, p.shape.heads, p.shape.dim_k, p.shape.dim_v}, states.options());
  p.k = k_c.const_data_ptr();
  p.v = v_c.const_data_ptr();
  p.g = g_c.const_data_ptr();
  p.beta = beta_c.const_data_ptr();
  p.states = states_c.const_data_ptr();
  p.d_states = ds ? ds_c.const_data_ptr() : nullptr;
  p.d_final_state = dfin ? dfin_c.const_data_ptr() : nullptr;
  p.dk = dk.mutable_data_ptr();
  p.dv = dv.mutable_data_ptr();
  p.dg = dg.mutable_data_ptr();
  p.dbeta = dbeta.mutable_data_ptr();
  p.d_initial_state = d_initial.mutable_data_ptr();
  run_cpu_lanes(p, kernels::gdn_block_scan_bwd_cpu);
  return {dk.to(k.scalar_type()), dv.to(v.scalar_type()), dg, dbeta, d_initial};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CPU, m) {
  m.impl("_gdn_block_scan_forward", &gdn_block_scan_forward_cpu);
  m.impl("_gdn_block_scan_backward", &gdn_block_scan_backward_cpu);
}

} // namespace arl2::detail
