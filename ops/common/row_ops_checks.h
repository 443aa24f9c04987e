// Argument checks of the row-wise fused ops (rms_norm, layer_norm_modulate, gated_residual) shared by
// their CPU, CUDA and Meta kernels (symbolic sizes, so the Meta kernels can run them), and the
// translation to the torch-free parameter structs.
#pragma once

#include <utility>

#include <ATen/core/Tensor.h>

#include "../kernels/common/row_ops_params.h"

namespace arl2::detail {

void check_rms_norm_args(const at::Tensor& x, const at::Tensor& weight, double eps);
void check_layer_norm_modulate_args(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);
void check_gated_residual_args(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);

// What the CPU kernels and the backwards compute x's dtype in: float64 stays, the rest runs in float32.
at::ScalarType compute_dtype(const at::Tensor& x);

// A per-frame operand as the kernels read it: unit stride over C (copied only when it has not).
at::Tensor unit_stride_rows(const at::Tensor& t);
// shift and scale as the kernels read them: unit stride over C and one set of strides for both (as
// the model's slices of one modulation tensor have); copied only when they have not.
std::pair<at::Tensor, at::Tensor> modulation_rows(const at::Tensor& shift, const at::Tensor& scale);

// Parameters for dense x (and y, out) and per-frame operands from unit_stride_rows; shift and scale
// must share strides. Concrete tensors only; the data pointers are those of the arguments.
kernels::RmsNormParams rms_norm_params(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& y);
kernels::LayerNormModulateParams layer_norm_modulate_params(
    const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps, at::Tensor& y);
kernels::GatedResidualParams gated_residual_params(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate, at::Tensor& out);

} // namespace arl2::detail
