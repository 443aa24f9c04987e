// Meta kernels of arl2::gdn_block_read: the same checks and output shapes, with symbolic sizes.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../common/gdn_checks.h"

namespace arl2::detail {
namespace {

at::Tensor gdn_block_read_meta(const at::Tensor& q, const at::Tensor& states, int64_t block_len, double) {
  check_read_args("gdn_block_read", q, states, block_len);
  return at::empty_symint({q.sym_size(0), q.sym_size(1), q.sym_size(2), states.sym_size(4)}, q.options());
}

std::tuple<at::Tensor, at::Tensor> gdn_block_read_backward_meta(
    const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double) {
  check_read_backward_args("gdn_block_read backward", d_o, q, states, block_len);
  return {
      at::empty_like(q, {}, at::MemoryFormat::Contiguous), at::empty_like(states, {}, at::MemoryFormat::Contiguous)};
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Meta, m) {
  m.impl("gdn_block_read", &gdn_block_read_meta);
  m.impl("_gdn_block_read_backward", &gdn_block_read_backward_meta);
}

} // namespace arl2::detail
