// CPU reference of the row-wise fused ops, ops/specs/row_ops.md (1)-(3): one row at a time, the
// row statistics in float64.
#include <cmath>

#include "../common/check.h"
#include "row_ops_ref.h"

namespace arl2::kernels {
namespace {

template <typename T>
void rms_norm_impl(const RmsNormParams& p) {
  const T* w = static_cast<const T*>(p.weight);
  for (int64_t row = 0; row < p.rows; ++row) {
    const T* x = static_cast<const T*>(p.x) + row * p.dim;
    T* y = static_cast<T*>(p.y) + row * p.dim;
    double squares = 0;
    for (int64_t c = 0; c < p.dim; ++c) {
      squares += static_cast<double>(x[c]) * x[c];
    }
    const T r = static_cast<T>(1.0 / std::sqrt(squares / p.dim + p.eps));
    for (int64_t c = 0; c < p.dim; ++c) {
      y[c] = x[c] * r * w[c];
    }
  }
}

template <typename T>
void layer_norm_modulate_impl(const LayerNormModulateParams& p) {
  const FrameRows& f = p.rows;
  for (int64_t row = 0; row < f.rows(); ++row) {
    const T* x = static_cast<const T*>(p.x) + row * f.dim;
    const T* shift = static_cast<const T*>(p.shift) + f.frame_offset(row);
    const T* scale = static_cast<const T*>(p.scale) + f.frame_offset(row);
    T* y = static_cast<T*>(p.y) + row * f.dim;
    double sum = 0, centred = 0;
    for (int64_t c = 0; c < f.dim; ++c) {
      sum += x[c];
    }
    const double mean = sum / f.dim;
    for (int64_t c = 0; c < f.dim; ++c) {
      centred += (x[c] - mean) * (x[c] - mean);
    }
    const T r = static_cast<T>(1.0 / std::sqrt(centred / f.dim + p.eps)), mu = static_cast<T>(mean);
    for (int64_t c = 0; c < f.dim; ++c) {
      y[c] = (x[c] - mu) * r * (1 + scale[c]) + shift[c];
    }
  }
}

template <typename T>
void gated_residual_impl(const GatedResidualParams& p) {
  const FrameRows& f = p.rows;
  for (int64_t row = 0; row < f.rows(); ++row) {
    const int64_t base = row * f.dim;
    const T* gate = static_cast<const T*>(p.gate) + f.frame_offset(row);
    for (int64_t c = 0; c < f.dim; ++c) {
      static_cast<T*>(p.out)[base + c] =
          static_cast<const T*>(p.x)[base + c] + static_cast<const T*>(p.y)[base + c] * gate[c];
    }
  }
}

// Calls run(float{}) or run(double{}) for p's dtype.
template <typename Params, typename Run>
void dispatch_cpu(const char* op, const Params& p, Run run) {
  if (p.dtype == DType::kFloat32) {
    run(float{});
  } else {
    ARL2_CHECK(p.dtype == DType::kFloat64, op, ": the CPU kernel takes float32 or float64 data");
    run(double{});
  }
}

} // namespace

void rms_norm_cpu(const RmsNormParams& p) {
  dispatch_cpu("rms_norm", p, [&](auto t) { rms_norm_impl<decltype(t)>(p); });
}

void layer_norm_modulate_cpu(const LayerNormModulateParams& p) {
  dispatch_cpu("layer_norm_modulate", p, [&](auto t) { layer_norm_modulate_impl<decltype(t)>(p); });
}

void gated_residual_cpu(const GatedResidualParams& p) {
  dispatch_cpu("gated_residual", p, [&](auto t) { gated_residual_impl<decltype(t)>(p); });
}

} // namespace arl2::kernels
