// CUDA kernels of arl2::gdn_block_scan (forward and backward): checks, device guard, the current
// stream and a workspace from the caching allocator, then the torch-free launchers in ops/kernels/cuda.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <string>

#include "../common/gdn_checks.h"
#include "../kernels/cuda/gdn_cuda.h"

namespace arl2::detail {
namespace {

at::Tensor workspace(size_t bytes, const at::Tensor& like) {
  return at::empty({static_cast<int64_t>(bytes)}, like.options().dtype(at::kByte));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_forward_cuda(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  check_scan_args("gdn_block_scan", k, v, g, beta, block_len, initial_state);
  check_cuda_dtype("gdn_block_scan", k, "k");
  const auto h0 = defined_or_null(initial_state);

  kernels::GdnScanFwdParams p;
  p.shape = gdn_shape(k, v.size(3), block_len);
  p.dtype = to_kernel_dtype(k.scalar_type());
  const std::string unsupported = kernels::gdn_cuda_unsupported(p.shape);
  TORCH_CHECK(unsupported.empty(), "gdn_block_scan", ": ", unsupported);
  // Every check before the guard and the first allocation: nothing is touched on the device for bad input.
  const c10::cuda::CUDAGuard device_guard(k.device());
  const auto k_c = dense_aligned(k), v_c = dense_aligned(v), g_c = dense_aligned(g), beta_c = dense_aligned(beta);
  const auto h0_c = h0 ? dense_aligned(*h0) : at::Tensor();
  const auto state_opts = k.options().dtype(at::kFloat);
  auto states =
      at::empty({p.shape.batch, p.shape.num_blocks(), p.shape.heads, p.shape.dim_k, p.shape.dim_v}, state_opts);
  auto final_state = at::empty({p.shape.batch, p.shape.heads, p.shape.dim_k, p.shape.dim_v}, state_opts);
  auto transitions = at::empty(
      {p.shape.batch, std::max<int64_t>(p.shape.num_blocks() - 1, 0), p.shape.heads, p.shape.dim_k, p.shape.dim_k},
      state_opts);
  p.k = k_c.const_data_ptr();
  p.v = v_c.const_data_ptr();
  p.g = g_c.const_data_ptr();
  p.beta = beta_c.const_data_ptr();
  p.initial_state = h0 ? h0_c.const_data_ptr() : nullptr;
  p.states = states.mutable_data_ptr();
  p.final_state = final_state.mutable_data_ptr();
  p.transitions = transitions.mutable_data_ptr();
  auto ws = workspace(kernels::gdn_block_scan_fwd_workspace_bytes(p), k);
  kernels::gdn_block_scan_fwd_cuda(p, ws.mutable_data_ptr(), c10::cuda::getCurrentCUDAStream());
  return {states, final_state, transitions};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_backward_cuda(
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
  check_cuda_dtype("gdn_block_scan backward", k, "k");
  const auto ds = defined_or_null(d_states), dfin = defined_or_null(d_final_state);

  kernels::GdnScanBwdParams p;
  p.shape = gdn_shape(k, v.size(3), block_len);
  p.dtype = to_kernel_dtype(k.scalar_type());
  const std::string unsupported = kernels::gdn_cuda_unsupported(p.shape);
  TORCH_CHECK(unsupported.empty(), "gdn_block_scan backward", ": ", unsupported);
  // Every check before the guard and the first allocation: nothing is touched on the device for bad input.
  const c10::cuda::CUDAGuard device_guard(k.device());
  const auto k_c = dense_aligned(k), v_c = dense_aligned(v), g_c = dense_aligned(g), beta_c = dense_aligned(beta);
  const auto states_c = dense_aligned(states), transitions_c = dense_aligned(transitions);
  const auto ds_c = ds ? dense_aligned(*ds) : at::Tensor(), dfin_c = dfin ? dense_aligned(*dfin) : at::Tensor();
  auto dk = at::empty_like(k_c), dv = at::empty_like(v_c);
  auto dg = at::empty_like(g_c), dbeta = at::empty_like(beta_c);
  auto d_initial = at::empty({p.shape.batch, p.shape.heads, p.shape.dim_k, p.shape.dim_v}, states.options());
  p.k = k_c.const_data_ptr();
  p.v = v_c.const_data_ptr();
  p.g = g_c.const_data_ptr();
  p.beta = beta_c.const_data_ptr();
  p.states = states_c.const_data_ptr();
  p.transitions = transitions_c.const_data_ptr();
  p.d_states = ds ? ds_c.const_data_ptr() : nullptr;
  p.d_final_state = dfin ? dfin_c.const_data_ptr() : nullptr;
  p.dk = dk.mutable_data_ptr();
  p.dv = dv.mutable_data_ptr();
  p.dg = dg.mutable_data_ptr();
  p.dbeta = dbeta.mutable_data_ptr();
  p.d_initial_state = d_initial.mutable_data_ptr();
  auto ws = workspace(kernels::gdn_block_scan_bwd_workspace_bytes(p), k);
  kernels::gdn_block_scan_bwd_cuda(p, ws.mutable_data_ptr(), c10::cuda::getCurrentCUDAStream());
  return {dk, dv, dg, dbeta, d_initial};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CUDA, m) {
  m.impl("_gdn_block_scan_forward", &gdn_block_scan_forward_cuda);
  m.impl("_gdn_block_scan_backward", &gdn_block_scan_backward_cuda);
}

} // namespace arl2::detail
