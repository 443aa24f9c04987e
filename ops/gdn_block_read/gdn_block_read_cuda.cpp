// CUDA kernels of arl2::gdn_block_read (forward and backward): checks, device guard and the current
// stream, then the torch-free launchers in ops/kernels/cuda.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <string>

#include "../common/gdn_checks.h"
#include "../kernels/cuda/gdn_cuda.h"

namespace arl2::detail {
namespace {

// o = (4), or residual + gate * (4) where residual and gate are given; the caller checked its arguments.
at::Tensor read_forward(
    const char* op,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len,
    double scale,
    const at::Tensor* residual = nullptr,
    const at::Tensor* gate = nullptr) {
  check_cuda_dtype(op, q, "q");
  kernels::GdnReadFwdParams p;
  p.shape = gdn_shape(q, states.size(4), block_len);
  p.dtype = to_kernel_dtype(q.scalar_type());
  const std::string unsupported = kernels::gdn_cuda_unsupported(p.shape);
  TORCH_CHECK(unsupported.empty(), op, ": ", unsupported);
  // Every check before the guard and the first allocation: nothing is touched on the device for bad input.
  const c10::cuda::CUDAGuard device_guard(q.device());
  const auto q_c = dense_aligned(q), states_c = dense_aligned(states);
  at::Tensor residual_c, gate_c;
  if (residual != nullptr) {
    residual_c = dense_aligned(*residual);
    gate_c = dense_aligned(*gate);
    p.residual = residual_c.const_data_ptr();
    p.gate = gate_c.const_data_ptr();
  }
  p.scale = scale;
  auto o = at::empty({p.shape.batch, p.shape.seqlen, p.shape.heads, p.shape.dim_v}, q.options());
  p.q = q_c.const_data_ptr();
  p.states = states_c.const_data_ptr();
  p.o = o.mutable_data_ptr();
  kernels::gdn_block_read_fwd_cuda(p, c10::cuda::getCurrentCUDAStream());
  return o;
}

at::Tensor gdn_block_read_cuda(const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  check_read_args("gdn_block_read", q, states, block_len);
  return read_forward("gdn_block_read", q, states, block_len, scale);
}

at::Tensor gdn_block_read_gated_cuda(
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len,
    double scale) {
  check_gated_read_args("_gdn_block_read_gated", residual, gate, q, states, block_len);
  return read_forward("_gdn_block_read_gated", q, states, block_len, scale, &residual, &gate);
}

std::tuple<at::Tensor, at::Tensor> gdn_block_read_backward_cuda(
    const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  check_read_backward_args("gdn_block_read backward", d_o, q, states, block_len);
  check_cuda_dtype("gdn_block_read backward", q, "q");
  kernels::GdnReadBwdParams p;
  p.shape = gdn_shape(q, states.size(4), block_len);
  p.dtype = to_kernel_dtype(q.scalar_type());
  const std::string unsupported = kernels::gdn_cuda_unsupported(p.shape);
  TORCH_CHECK(unsupported.empty(), "gdn_block_read backward", ": ", unsupported);
  // Every check before the guard and the first allocation: nothing is touched on the device for bad input.
  const c10::cuda::CUDAGuard device_guard(q.device());
  const auto q_c = dense_aligned(q), d_o_c = dense_aligned(d_o), states_c = dense_aligned(states);
  p.scale = scale;
  auto dq = at::empty_like(q_c), d_states = at::empty_like(states_c);
  p.q = q_c.const_data_ptr();
  p.states = states_c.const_data_ptr();
  p.d_o = d_o_c.const_data_ptr();
  p.dq = dq.mutable_data_ptr();
  p.d_states = d_states.mutable_data_ptr();
  kernels::gdn_block_read_bwd_cuda(p, c10::cuda::getCurrentCUDAStream());
  return {dq, d_states};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CUDA, m) {
  m.impl("gdn_block_read", &gdn_block_read_cuda);
  m.impl("_gdn_block_read_backward", &gdn_block_read_backward_cuda);
  m.impl("_gdn_block_read_gated", &gdn_block_read_gated_cuda);
}

} // namespace arl2::detail
