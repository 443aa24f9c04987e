// Parameters of arl2::rope3d's kernels (ops/specs/rope3d.md): raw pointers and sizes, no torch types.
// x and y are [B, L, H, D] with L = frames * height * width tokens in frame-major raster order; y is dense, x
// has unit stride along D and any strides along B, L and H (a per-head map's output need not be copied first).
#pragma once

#include <cstdint>

#include "dtype.h"

namespace arl2::kernels {

struct Rope3dParams {
  int64_t batch = 0, tokens = 0, heads = 0, dim = 0;
  int64_t frames = 0, height = 0, width = 0;              // the grid
  int64_t frame_offset = 0;                               // absolute index of the first frame
  bool inverse = false;                                   // rotate by -theta (the backward)
  DType dtype = DType::kFloat32;                          // of x and y
  int64_t x_stride_b = 0, x_stride_l = 0, x_stride_h = 0; // elements
  const void* x = nullptr;
  void* y = nullptr;
};

// Wan's split of the head dim into (time, height, width) parts, in that order: 44 / 42 / 42 for D = 128.
struct Rope3dSplit {
  int64_t t, h, w;
};
constexpr Rope3dSplit rope3d_split(int64_t dim) { // constexpr: usable in device code too
  return {dim - 4 * (dim / 6), 2 * (dim / 6), 2 * (dim / 6)};
}

} // namespace arl2::kernels
