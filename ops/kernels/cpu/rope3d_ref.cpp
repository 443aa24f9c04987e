// CPU reference of arl2::rope3d, ops/specs/rope3d.md (1)-(2): per token, the D / 2 angles in float64,
// then the rotation of every head's pairs.
#include "rope3d_ref.h"

#include <cmath>
#include <vector>

#include "../common/check.h"

namespace arl2::kernels {
namespace {

// cos / sin of every pair's angle for the token at (t, r, c), (1).
void token_angles(
    const Rope3dParams& p, int64_t t, int64_t r, int64_t c, std::vector<double>& cos_, std::vector<double>& sin_) {
  const Rope3dSplit split = rope3d_split(p.dim);
  const int64_t sizes[3] = {split.t, split.h, split.w};
  const int64_t positions[3] = {t, r, c};
  int64_t pair = 0;
  for (int a = 0; a < 3; ++a) {
    for (int64_t j = 0; j < sizes[a] / 2; ++j, ++pair) {
      const double theta = static_cast<double>(positions[a]) *
                           std::pow(10000.0, -2.0 * static_cast<double>(j) / static_cast<double>(sizes[a]));
      cos_[pair] = std::cos(theta);
      sin_[pair] = p.inverse ? -std::sin(theta) : std::sin(theta);
    }
  }
}

template <typename T>
void rope3d_impl(const Rope3dParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const int64_t pairs = p.dim / 2, per_frame = p.height * p.width;
  std::vector<double> cos_(pairs), sin_(pairs);
  for (int64_t l = 0; l < p.tokens; ++l) {
    token_angles(p, p.frame_offset + l / per_frame, (l / p.width) % p.height, l % p.width, cos_, sin_);
    for (int64_t b = 0; b < p.batch; ++b) {
      for (int64_t h = 0; h < p.heads; ++h) {
        const int64_t base = ((b * p.tokens + l) * p.heads + h) * p.dim;
        const int64_t x_base = b * p.x_stride_b + l * p.x_stride_l + h * p.x_stride_h;
        for (int64_t i = 0; i < pairs; ++i) {
          const T x0 = x[x_base + 2 * i], x1 = x[x_base + 2 * i + 1];
          const T c = static_cast<T>(cos_[i]), s = static_cast<T>(sin_[i]);
          y[base + 2 * i] = x0 * c - x1 * s;
          y[base + 2 * i + 1] = x0 * s + x1 * c;
        }
      }
    }
  }
}

} // namespace

void rope3d_cpu(const Rope3dParams& p) {
  if (p.dtype == DType::kFloat32) {
    rope3d_impl<float>(p);
  } else {
    ARL2_CHECK(p.dtype == DType::kFloat64, "rope3d: the CPU kernel takes float32 or float64 data");
    rope3d_impl<double>(p);
  }
}

} // namespace arl2::kernels
