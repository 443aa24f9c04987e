// Argument checks of the GDN ops (see gdn_checks.h).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "gdn_checks.h"

#include <string>
#include <vector>

#include <c10/util/Exception.h>

namespace arl2::detail {
namespace {

bool is_supported_input_dtype(at::ScalarType t) {
  return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf || t == at::kDouble;
}

void check_rank(const char* op, const at::Tensor& t, const char* name, int64_t rank, const char* layout) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined; expected a tensor of shape ", layout);
  TORCH_CHECK(t.dim() == rank, op, ": ", name, " must have shape ", layout, " (", rank, " dims), got ", t.sym_sizes());
}

void check_shape(
    const char* op,
    const at::Tensor& t,
    const char* name,
    const char* layout,
    const std::vector<c10::SymInt>& expected) {
  check_rank(op, t, name, static_cast<int64_t>(expected.size()), layout);
  TORCH_CHECK(
      t.sym_sizes() == c10::SymIntArrayRef(expected),
      op,
      ": ",
      name,
      " must have shape ",
      layout,
      " = ",
      c10::SymIntArrayRef(expected),
      ", got ",
      t.sym_sizes());
}

void check_same_device(
    const char* op, const at::Tensor& ref, const char* ref_name, const at::Tensor& t, const char* name) {
  TORCH_CHECK(
      t.device() == ref.device(),
      op,
      ": ",
      name,
      " is on ",
      t.device(),
      " but ",
      ref_name,
      " is on ",
      ref.device(),
      "; all arguments must be on one device");
}

void check_dtype(const char* op, const at::Tensor& t, const char* name, at::ScalarType expected, const char* why) {
  TORCH_CHECK(
      t.scalar_type() == expected, op, ": ", name, " must be ", expected, " (", why, "), got ", t.scalar_type());
}

void check_block_len(const char* op, const c10::SymInt& T, int64_t block_len) {
  TORCH_CHECK(block_len > 0, op, ": block_len must be positive, got ", block_len);
  TORCH_CHECK(
      T % block_len == 0, op, ": the sequence length T = ", T, " must be a multiple of block_len = ", block_len);
}

} // namespace

at::ScalarType gdn_state_dtype(at::ScalarType input_dtype) {
  return input_dtype == at::kDouble ? at::kDouble : at::kFloat;
}

void check_scan_args(
    const char* op,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state) {
  check_rank(op, k, "k", 4, "[B, T, H, K]");
  TORCH_CHECK(
      is_supported_input_dtype(k.scalar_type()),
      op,
      ": k must be float32, bfloat16, float16 or float64, got ",
      k.scalar_type());
  const auto B = k.sym_size(0), T = k.sym_size(1), H = k.sym_size(2), K = k.sym_size(3);
  check_rank(op, v, "v", 4, "[B, T, H, V]");
  const auto V = v.sym_size(3);
  check_shape(op, v, "v", "[B, T, H, V]", {B, T, H, V});
  check_dtype(op, v, "v", k.scalar_type(), "the dtype of k");
  const auto state_dtype = gdn_state_dtype(k.scalar_type());
  check_shape(op, g, "g", "[B, T, H]", {B, T, H});
  check_dtype(op, g, "g", state_dtype, "the state dtype: float32, or float64 with float64 k");
  check_shape(op, beta, "beta", "[B, T, H]", {B, T, H});
  check_dtype(op, beta, "beta", state_dtype, "the state dtype: float32, or float64 with float64 k");
  check_same_device(op, k, "k", v, "v");
  check_same_device(op, k, "k", g, "g");
  check_same_device(op, k, "k", beta, "beta");
  check_block_len(op, T, block_len);
  if (initial_state.has_value() && initial_state->defined()) {
    check_shape(op, *initial_state, "initial_state", "[B, H, K, V]", {B, H, K, V});
    check_dtype(op, *initial_state, "initial_state", state_dtype, "the state dtype");
    check_same_device(op, k, "k", *initial_state, "initial_state");
  }
}

void check_scan_backward_args(
    const char* op,
    const std::optional<at::Tensor>& d_states,
    const std::optional<at::Tensor>& d_final_state,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    const at::Tensor& states,
    const at::Tensor& transitions,
    int64_t block_len) {
  check_scan_args(op, k, v, g, beta, block_len, std::nullopt);
  const auto B = k.sym_size(0), T = k.sym_size(1), H = k.sym_size(2), K = k.sym_size(3), V = v.sym_size(3);
  const auto NB = T / block_len;
  const auto state_dtype = gdn_state_dtype(k.scalar_type());
  check_shape(op, states, "states", "[B, T / block_len, H, K, V]", {B, NB, H, K, V});
  check_dtype(op, states, "states", state_dtype, "the state dtype");
  check_same_device(op, k, "k", states, "states");
  check_shape(op, transitions, "transitions", "[B, T / block_len - 1, H, K, K]", gdn_transitions_shape(k, block_len));
  check_dtype(op, transitions, "transitions", state_dtype, "the state dtype");
  check_same_device(op, k, "k", transitions, "transitions");
  if (d_states.has_value() && d_states->defined()) {
    check_shape(op, *d_states, "d_states", "[B, T / block_len, H, K, V]", {B, NB, H, K, V});
    check_dtype(op, *d_states, "d_states", state_dtype, "the state dtype");
    check_same_device(op, k, "k", *d_states, "d_states");
  }
  if (d_final_state.has_value() && d_final_state->defined()) {
    check_shape(op, *d_final_state, "d_final_state", "[B, H, K, V]", {B, H, K, V});
    check_dtype(op, *d_final_state, "d_final_state", state_dtype, "the state dtype");
    check_same_device(op, k, "k", *d_final_state, "d_final_state");
  }
}

void check_read_args(const char* op, const at::Tensor& q, const at::Tensor& states, int64_t block_len) {
  check_rank(op, q, "q", 4, "[B, T, H, K]");
  TORCH_CHECK(
      is_supported_input_dtype(q.scalar_type()),
      op,
      ": q must be float32, bfloat16, float16 or float64, got ",
      q.scalar_type());
  const auto B = q.sym_size(0), T = q.sym_size(1), H = q.sym_size(2), K = q.sym_size(3);
  check_block_len(op, T, block_len);
  check_rank(op, states, "states", 5, "[B, T / block_len, H, K, V]");
  const auto V = states.sym_size(4);
  check_shape(op, states, "states", "[B, T / block_len, H, K, V]", {B, T / block_len, H, K, V});
  check_dtype(op, states, "states", gdn_state_dtype(q.scalar_type()), "float32, or float64 with float64 q");
  check_same_device(op, q, "q", states, "states");
}

void check_read_backward_args(
    const char* op, const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len) {
  check_read_args(op, q, states, block_len);
  check_shape(op, d_o, "d_o", "[B, T, H, V]", {q.sym_size(0), q.sym_size(1), q.sym_size(2), states.sym_size(4)});
  check_dtype(op, d_o, "d_o", q.scalar_type(), "the dtype of q");
  check_same_device(op, q, "q", d_o, "d_o");
}

void check_gated_read_args(
    const char* op,
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len) {
  check_read_args(op, q, states, block_len);
  const auto B = q.sym_size(0), T = q.sym_size(1), H = q.sym_size(2);
  check_shape(op, residual, "residual", "[B, T, H, V]", {B, T, H, states.sym_size(4)});
  check_shape(op, gate, "gate", "[B, T, H]", {B, T, H});
  check_dtype(op, residual, "residual", q.scalar_type(), "the dtype of q");
  check_dtype(op, gate, "gate", q.scalar_type(), "the dtype of q");
  check_same_device(op, q, "q", residual, "residual");
  check_same_device(op, q, "q", gate, "gate");
}

std::vector<c10::SymInt> gdn_transitions_shape(const at::Tensor& k, int64_t block_len) {
  const auto NB = k.sym_size(1) / block_len;
  return {k.sym_size(0), NB.max(1) - 1, k.sym_size(2), k.sym_size(3), k.sym_size(3)};
}

kernels::GdnShape gdn_shape(const at::Tensor& k, int64_t dim_v, int64_t block_len) {
  kernels::GdnShape s;
  s.batch = k.size(0);
  s.seqlen = k.size(1);
  s.heads = k.size(2);
  s.dim_k = k.size(3);
  s.dim_v = dim_v;
  s.block_len = block_len;
  return s;
}

} // namespace arl2::detail
