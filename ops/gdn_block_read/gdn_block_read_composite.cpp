// arl2::_gdn_block_read_gated where no fused kernel is registered (CPU, Meta): its formula over
// arl2::gdn_block_read. CUDA runs the gate and the sum in the read kernel's epilogue (gdn_block_read_cuda.cpp).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/addcmul.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/gdn_checks.h"
#include "arl2/ops.h"

namespace arl2::detail {
namespace {

at::Tensor gdn_block_read_gated_composite(
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len,
    double scale) {
  check_gated_read_args("_gdn_block_read_gated", residual, gate, q, states, block_len);
  // contiguous, as the CUDA kernel writes it
  auto o = at::empty_like(residual, at::MemoryFormat::Contiguous);
  return at::addcmul_out(o, residual, gate.unsqueeze(-1), gdn_block_read(q, states, block_len, scale));
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, CompositeExplicitAutograd, m) {
  m.impl("_gdn_block_read_gated", &gdn_block_read_gated_composite);
}

} // namespace arl2::detail
