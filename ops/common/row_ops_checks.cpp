// Argument checks and parameters of the row-wise fused ops (see row_ops_checks.h).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "row_ops_checks.h"

#include <c10/util/Exception.h>

#include "kernel_dtype.h"

namespace arl2::detail {
namespace {

void check_float(const char* op, const at::Tensor& t, const char* name) {
  const auto d = t.scalar_type();
  TORCH_CHECK(
      d == at::kFloat || d == at::kBFloat16 || d == at::kHalf || d == at::kDouble,
      op,
      ": ",
      name,
      " must be float32, bfloat16, float16 or float64, got ",
      d);
}

void check_like(const char* op, const at::Tensor& t, const char* name, const at::Tensor& x) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined");
  TORCH_CHECK(
      t.scalar_type() == x.scalar_type(),
      op,
      ": ",
      name,
      " must have x's dtype ",
      x.scalar_type(),
      ", got ",
      t.scalar_type());
  TORCH_CHECK(t.device() == x.device(), op, ": ", name, " must be on x's device ", x.device(), ", got ", t.device());
}

// x [B, L, C] of tokens in F equal runs of frames; t [B, F, C], one row per batch item and frame.
void check_per_frame(const char* op, const at::Tensor& x, const at::Tensor& t, const char* name) {
  check_like(op, t, name, x);
  TORCH_CHECK(
      t.dim() == 3 && t.sym_size(0) == x.sym_size(0) && t.sym_size(2) == x.sym_size(2),
      op,
      ": ",
      name,
      " must be [B, F, C] with x's B and C (",
      x.sym_size(0),
      ", ",
      x.sym_size(2),
      "), got ",
      t.sym_sizes());
  TORCH_CHECK(
      t.sym_size(1) > 0 && x.sym_size(1) % t.sym_size(1) == 0,
      op,
      ": the frames F = ",
      t.sym_size(1),
      " of ",
      name,
      " must divide x's L = ",
      x.sym_size(1),
      " tokens");
}

void check_tokens(const char* op, const at::Tensor& x) {
  TORCH_CHECK(x.defined(), op, ": x is undefined; expected a tensor of shape [B, L, C]");
  TORCH_CHECK(x.dim() == 3, op, ": x must have shape [B, L, C] (3 dims), got ", x.sym_sizes());
  check_float(op, x, "x");
}

void check_eps(const char* op, double eps) {
  TORCH_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
}

kernels::FrameRows frame_rows(const at::Tensor& x, const at::Tensor& per_frame) {
  kernels::FrameRows f;
  f.batch = x.size(0);
  f.tokens = x.size(1);
  f.frames = per_frame.size(1);
  f.dim = x.size(2);
  f.batch_stride = per_frame.stride(0);
  f.frame_stride = per_frame.stride(1);
  return f;
}

} // namespace

void check_rms_norm_args(const at::Tensor& x, const at::Tensor& weight, double eps) {
  constexpr const char* op = "rms_norm";
  TORCH_CHECK(x.defined(), op, ": x is undefined; expected a tensor of shape [..., C]");
  TORCH_CHECK(x.dim() >= 1, op, ": x must have at least one dim, got a scalar");
  check_float(op, x, "x");
  check_like(op, weight, "weight", x);
  TORCH_CHECK(
      weight.dim() == 1 && weight.sym_size(0) == x.sym_size(-1),
      op,
      ": weight must be [C] with x's last dim C = ",
      x.sym_size(-1),
      ", got ",
      weight.sym_sizes());
  check_eps(op, eps);
}

void check_layer_norm_modulate_args(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  constexpr const char* op = "layer_norm_modulate";
  check_tokens(op, x);
  check_per_frame(op, x, shift, "shift");
  check_per_frame(op, x, scale, "scale");
  TORCH_CHECK(
      shift.sym_size(1) == scale.sym_size(1),
      op,
      ": shift and scale must have the same frames, got ",
      shift.sym_size(1),
      " and ",
      scale.sym_size(1));
  check_eps(op, eps);
}

void check_gated_residual_args(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  constexpr const char* op = "gated_residual";
  check_tokens(op, x);
  check_like(op, y, "y", x);
  TORCH_CHECK(y.sym_sizes() == x.sym_sizes(), op, ": y must have x's shape ", x.sym_sizes(), ", got ", y.sym_sizes());
  check_per_frame(op, x, gate, "gate");
}

at::ScalarType compute_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor unit_stride_rows(const at::Tensor& t) {
  return t.stride(-1) == 1 ? t : t.contiguous();
}

std::pair<at::Tensor, at::Tensor> modulation_rows(const at::Tensor& shift, const at::Tensor& scale) {
  auto a = unit_stride_rows(shift), b = unit_stride_rows(scale);
  if (a.strides() != b.strides()) {
    return {shift.contiguous(), scale.contiguous()};
  }
  return {a, b};
}

kernels::RmsNormParams rms_norm_params(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& y) {
  kernels::RmsNormParams p;
  p.dim = x.size(-1);
  p.rows = p.dim == 0 ? 0 : x.numel() / p.dim;
  p.eps = eps;
  p.dtype = to_kernel_dtype(x.scalar_type());
  p.x = x.const_data_ptr();
  p.weight = weight.const_data_ptr();
  p.y = y.mutable_data_ptr();
  return p;
}

kernels::LayerNormModulateParams layer_norm_modulate_params(
    const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps, at::Tensor& y) {
  TORCH_INTERNAL_ASSERT(shift.strides() == scale.strides(), "layer_norm_modulate: shift and scale strides differ");
  kernels::LayerNormModulateParams p;
  p.rows = frame_rows(x, shift);
  p.eps = eps;
  p.dtype = to_kernel_dtype(x.scalar_type());
  p.x = x.const_data_ptr();
  p.shift = shift.const_data_ptr();
  p.scale = scale.const_data_ptr();
  p.y = y.mutable_data_ptr();
  return p;
}

kernels::GatedResidualParams gated_residual_params(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate, at::Tensor& out) {
  kernels::GatedResidualParams p;
  p.rows = frame_rows(x, gate);
  p.dtype = to_kernel_dtype(x.scalar_type());
  p.x = x.const_data_ptr();
  p.y = y.const_data_ptr();
  p.gate = gate.const_data_ptr();
  p.out = out.mutable_data_ptr();
  return p;
}

} // namespace arl2::detail
