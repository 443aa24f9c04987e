// CPU kernels of arl2::gdn_block_read (forward and backward): checks, upcast of bfloat16 / float16 to
// float32, then the reference loops in ops/kernels/cpu.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/cpu_lanes.h"
#include "../common/gdn_checks.h"
#include "../kernels/cpu/gdn_ref.h"

namespace arl2::detail {
namespace {

at::Tensor gdn_block_read_cpu(const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  check_read_args("gdn_block_read", q, states, block_len);
  const auto dtype = gdn_state_dtype(q.scalar_type());
  const auto q_c = q.to(dtype).contiguous(), states_c = states.contiguous();
  kernels::GdnReadFwdParams p;
  p.shape = gdn_shape(q, states.size(4), block_len);
  p.dtype = to_kernel_dtype(dtype);
  p.scale = scale;
  auto o = at::empty({p.shape.batch, p.shape.seqlen, p.shape.heads, p.shape.dim_v}, q.options().dtype(dtype));
  p.q = q_c.const_data_ptr();
  p.states = states_c.const_data_ptr();
  p.o = o.mutable_data_ptr();
  run_cpu_lanes(p, kernels::gdn_block_read_fwd_cpu);
  return o.to(q.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> gdn_block_read_backward_cpu(
    const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale) {
  check_read_backward_args("gdn_block_read backward", d_o, q, states, block_len);
  const auto dtype = gdn_state_dtype(q.scalar_type());
  const auto q_c = q.to(dtype).contiguous(), d_o_c = d_o.to(dtype).contiguous();
  const auto states_c = states.contiguous();
  kernels::GdnReadBwdParams p;
  p.shape = gdn_shape(q, states.size(4), block_len);
  p.dtype = to_kernel_dtype(dtype);
  p.scale = scale;
  auto dq = at::empty_like(q_c), d_states = at::empty_like(states_c);
  p.q = q_c.const_data_ptr();
  p.states = states_c.const_data_ptr();
  p.d_o = d_o_c.const_data_ptr();
  p.dq = dq.mutable_data_ptr();
  p.d_states = d_states.mutable_data_ptr();
  run_cpu_lanes(p, kernels::gdn_block_read_bwd_cpu);
  return {dq.to(q.scalar_type()), d_states};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CPU, m) {
  m.impl("gdn_block_read", &gdn_block_read_cpu);
  m.impl("_gdn_block_read_backward", &gdn_block_read_backward_cpu);
}

} // namespace arl2::detail
