// Parameters of the row-wise fused ops (ops/specs/row_ops.md): rms_norm, layer_norm_modulate and
// gated_residual. Raw pointers and sizes, no torch types. Each works on rows of `dim` contiguous
// elements; the per-frame operands (shift, scale, gate) hold one row per (batch item, frame).
#pragma once

#include <cstdint>

#include "dtype.h"

namespace arl2::kernels {

// x [B, L, C] dense, L tokens in `frames` equal runs; a per-frame operand [B, F, C] has unit stride
// over C and the given batch and frame strides (a slice of the model's [B, F, 6, C] modulation).
struct FrameRows {
  int64_t batch = 0, tokens = 0, frames = 1, dim = 0;
  int64_t batch_stride = 0, frame_stride = 0; // of the per-frame operand, in elements

  constexpr int64_t rows() const {
    return batch * tokens;
  }
  // Offset of the per-frame row that token row `row` (of B * L) uses.
  constexpr int64_t frame_offset(int64_t row) const {
    return (row / tokens) * batch_stride + ((row % tokens) / (tokens / frames)) * frame_stride;
  }
};

// y = x / sqrt(mean(x^2) + eps) * weight over each row of x [rows, dim].
struct RmsNormParams {
  int64_t rows = 0, dim = 0;
  double eps = 0;
  DType dtype = DType::kFloat32; // of x, weight and y
  const void* x = nullptr;
  const void* weight = nullptr; // [dim]
  void* y = nullptr;
};

// y = layer_norm(x) * (1 + scale[f]) + shift[f], no affine weights in the norm.
struct LayerNormModulateParams {
  FrameRows rows; // shift and scale share its strides
  double eps = 0;
  DType dtype = DType::kFloat32; // of every tensor
  const void* x = nullptr;
  const void* shift = nullptr;
  const void* scale = nullptr;
  void* y = nullptr;
};

// out = x + y * gate[f].
struct GatedResidualParams {
  FrameRows rows;                // of gate
  DType dtype = DType::kFloat32; // of every tensor
  const void* x = nullptr;
  const void* y = nullptr; // dense, x's shape
  const void* gate = nullptr;
  void* out = nullptr;
};

} // namespace arl2::kernels
