// The row-wise fused ops on CUDA, ops/specs/row_ops.md (1)-(3). One warp per row of `dim` elements:
// the row statistics are warp sums in float32, rounding once. Each lane moves W elements at a time: 16 bytes
// where the row length and the pointers allow (a warp then reads 512 contiguous bytes an instruction, which
// one element a lane, 64 bytes, leaves far below the memory's bandwidth), one otherwise. A row is read in
// segments of P packs a lane, all P loads issued before the first is used, so a warp waits for memory once a
// segment and not once a pack; a row of one segment (P is the smallest of 1, 2, 4, 8 that holds it: 1536
// bfloat16 channels are 6 packs of 8 a lane, P = 8) stays in registers between the statistics and the output, and
// x is read from memory once. Longer rows are read again for each later pass. gated_residual keeps no
// statistics and reads in segments of at most 2 packs.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "../common/check.h"
#include "convert.cuh"
#include "row_ops_cuda.h"

namespace arl2::kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;

__device__ __forceinline__ float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset /= 2) {
    x += __shfl_xor_sync(0xffffffffu, x, offset);
  }
  return x;
}

// Each warp of the grid takes rows row0, row0 + stride, ... and calls body(row, lane) for each.
template <typename Body>
__device__ __forceinline__ void for_each_row(int64_t rows, Body body) {
  const int lane = threadIdx.x % 32;
  const int64_t first = blockIdx.x * int64_t{kWarps} + threadIdx.x / 32;
  for (int64_t row = first; row < rows; row += int64_t{gridDim.x} * kWarps) {
    body(row, lane);
  }
}

// Packs i = 0 .. P-1 of lane `lane` in the segment starting at element `start`: elements
// start + (32 i + lane) W ..., zeros past `dim` (a whole number of packs when W > 1).
template <typename T, int W, int P>
__device__ __forceinline__ void load_segment(const T* row, int64_t start, int64_t dim, int lane, float (&v)[P][W]) {
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int64_t c = start + (int64_t{i} * 32 + lane) * W;
    if (c < dim) {
      load<T, W>(row + c, v[i]);
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) {
        v[i][j] = 0.f;
      }
    }
  }
}

// Calls f(i, c) for each pack i of the segment at `start` that lies inside the row, c its first element.
template <int W, int P, typename F>
__device__ __forceinline__ void for_each_pack(int64_t start, int64_t dim, int lane, F f) {
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int64_t c = start + (int64_t{i} * 32 + lane) * W;
    if (c < dim) {
      f(i, c);
    }
  }
}

// The sum of f(v) over a segment's registers.
template <int W, int P, typename F>
__device__ __forceinline__ float segment_sum(const float (&v)[P][W], F f) {
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < P; ++i) {
#pragma unroll
    for (int j = 0; j < W; ++j) {
      s += f(v[i][j]);
    }
  }
  return s;
}

template <typename T, int W, int P>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(RmsNormParams p) {
  constexpr int64_t kSegment = int64_t{32} * W * P;
  const T* w = static_cast<const T*>(p.weight);
  const bool one_segment = p.dim <= kSegment;
  for_each_row(p.rows, [&](int64_t row, int lane) {
    const T* x = static_cast<const T*>(p.x) + row * p.dim;
    T* y = static_cast<T*>(p.y) + row * p.dim;
    float v[P][W];
    float squares = 0.f;
    for (int64_t start = 0; start < p.dim; start += kSegment) {
      load_segment<T, W, P>(x, start, p.dim, lane, v);
      squares += segment_sum<W, P>(v, [](float e) { return e * e; });
    }
    const float r = rsqrtf(warp_sum(squares) / static_cast<float>(p.dim) + static_cast<float>(p.eps));
    for (int64_t start = 0; start < p.dim; start += kSegment) {
      if (!one_segment) {
        load_segment<T, W, P>(x, start, p.dim, lane, v);
      }
      for_each_pack<W, P>(start, p.dim, lane, [&](int i, int64_t c) {
        float g[W];
        load<T, W>(w + c, g);
#pragma unroll
        for (int j = 0; j < W; ++j) {
          g[j] *= v[i][j] * r;
        }
        store<T, W>(y + c, g);
      });
    }
  });
}

template <typename T, int W, int P>
__global__ void __launch_bounds__(kThreads) layer_norm_modulate_kernel(LayerNormModulateParams p) {
  constexpr int64_t kSegment = int64_t{32} * W * P;
  const FrameRows f = p.rows;
  const bool one_segment = f.dim <= kSegment;
  for_each_row(f.rows(), [&](int64_t row, int lane) {
    const T* x = static_cast<const T*>(p.x) + row * f.dim;
    const T* shift = static_cast<const T*>(p.shift) + f.frame_offset(row);
    const T* scale = static_cast<const T*>(p.scale) + f.frame_offset(row);
    T* y = static_cast<T*>(p.y) + row * f.dim;
    const float inv_dim = 1.f / static_cast<float>(f.dim);
    float v[P][W];
    float sum = 0.f;
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      load_segment<T, W, P>(x, start, f.dim, lane, v);
      sum += segment_sum<W, P>(v, [](float e) { return e; });
    }
    const float mean = warp_sum(sum) * inv_dim;
    // The variance of the centred values: a residual stream far from zero mean keeps its precision.
    float centred = 0.f;
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      if (!one_segment) {
        load_segment<T, W, P>(x, start, f.dim, lane, v);
      }
      for_each_pack<W, P>(start, f.dim, lane, [&](int i, int64_t) {
#pragma unroll
        for (int j = 0; j < W; ++j) {
          centred += (v[i][j] - mean) * (v[i][j] - mean);
        }
      });
    }
    const float r = rsqrtf(warp_sum(centred) * inv_dim + static_cast<float>(p.eps));
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      if (!one_segment) {
        load_segment<T, W, P>(x, start, f.dim, lane, v);
      }
      for_each_pack<W, P>(start, f.dim, lane, [&](int i, int64_t c) {
        float sh[W], sc[W];
        load<T, W>(shift + c, sh);
        load<T, W>(scale + c, sc);
#pragma unroll
        for (int j = 0; j < W; ++j) {
          sh[j] += (v[i][j] - mean) * r * (1.f + sc[j]);
        }
        store<T, W>(y + c, sh);
      });
    }
  });
}

template <typename T, int W, int P>
__global__ void __launch_bounds__(kThreads) gated_residual_kernel(GatedResidualParams p) {
  constexpr int64_t kSegment = int64_t{32} * W * P;
  const FrameRows f = p.rows;
  for_each_row(f.rows(), [&](int64_t row, int lane) {
    const int64_t base = row * f.dim;
    const T* x = static_cast<const T*>(p.x) + base;
    const T* y = static_cast<const T*>(p.y) + base;
    const T* gate = static_cast<const T*>(p.gate) + f.frame_offset(row);
    T* out = static_cast<T*>(p.out) + base;
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      float a[P][W], b[P][W];
      load_segment<T, W, P>(x, start, f.dim, lane, a);
      load_segment<T, W, P>(y, start, f.dim, lane, b);
      for_each_pack<W, P>(start, f.dim, lane, [&](int i, int64_t c) {
        float g[W];
        load<T, W>(gate + c, g);
#pragma unroll
        for (int j = 0; j < W; ++j) {
          g[j] = a[i][j] + b[i][j] * g[j];
        }
        store<T, W>(out + c, g);
      });
    }
  });
}

// Whether every row of `dim` elements of T, starting at each of `pointers` (plus whole multiples of the
// frame strides), can move in 16-byte packs.
template <typename T>
bool packs_fit(int64_t dim, int64_t frame_strides_gcd, std::initializer_list<const void*> pointers) {
  constexpr int64_t w = 16 / sizeof(T);
  bool fits = dim % w == 0 && frame_strides_gcd % w == 0;
  for (const void* ptr : pointers) {
    fits = fits && reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0;
  }
  return fits;
}

// Calls run(T{}, std::integral_constant<int, W>{}, std::integral_constant<int, P>{}, grid) for dtype's element
// type T, the widest pack W that fits(T{}) allows, the fewest packs a lane P (1, 2, 4 or 8, at most max_packs)
// that hold a row of `dim` (max_packs for longer rows, read in segments), and a grid of warps for `rows` rows;
// throws naming `op` for float64 or a failed launch.
template <typename Fits, typename Run>
void launch(const char* op, DType dtype, int64_t rows, int64_t dim, int max_packs, Fits fits, Run run) {
  if (rows == 0 || dim == 0) {
    return;
  }
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
  const auto with_packs = [&](auto t, auto w) {
    const int64_t packs = std::min<int64_t>(max_packs, (dim + 32 * decltype(w)::value - 1) / (32 * decltype(w)::value));
    if (packs <= 1) {
      run(t, w, std::integral_constant<int, 1>{}, grid);
    } else if (packs <= 2) {
      run(t, w, std::integral_constant<int, 2>{}, grid);
    } else if (packs <= 4) {
      run(t, w, std::integral_constant<int, 4>{}, grid);
    } else {
      run(t, w, std::integral_constant<int, 8>{}, grid);
    }
  };
  const auto widest = [&](auto t) {
    using T = decltype(t);
    if (fits(t)) {
      with_packs(t, std::integral_constant<int, 16 / sizeof(T)>{});
    } else {
      with_packs(t, std::integral_constant<int, 1>{});
    }
  };
  switch (dtype) {
    case DType::kFloat32:
      widest(float{});
      break;
    case DType::kBFloat16:
      widest(__nv_bfloat16{});
      break;
    case DType::kFloat16:
      widest(__half{});
      break;
    default:
      ARL2_CHECK(false, op, ": CUDA takes float32, bfloat16 or float16 (float64 runs on the CPU)");
  }
  const cudaError_t e = cudaGetLastError();
  ARL2_CHECK(e == cudaSuccess, "launch of ", op, "'s kernel failed: ", cudaGetErrorString(e));
}

int64_t gcd(int64_t a, int64_t b) {
  while (b != 0) {
    a %= b;
    std::swap(a, b);
  }
  return a;
}

// The strides by which a per-frame operand's rows move: packs fit them when they fit their gcd.
int64_t frame_strides_gcd(const FrameRows& f) {
  return gcd(f.batch_stride, f.frame_stride);
}

} // namespace

void rms_norm_cuda(const RmsNormParams& p, cudaStream_t stream) {
  launch(
      "rms_norm",
      p.dtype,
      p.rows,
      p.dim,
      8,
      [&](auto t) {
        return packs_fit<decltype(t)>(p.dim, 0, {p.x, p.weight, p.y});
      },
      [&](auto t, auto w, auto packs, unsigned grid) {
        rms_norm_kernel<decltype(t), decltype(w)::value, decltype(packs)::value><<<grid, kThreads, 0, stream>>>(p);
      });
}

void layer_norm_modulate_cuda(const LayerNormModulateParams& p, cudaStream_t stream) {
  launch(
      "layer_norm_modulate",
      p.dtype,
      p.rows.rows(),
      p.rows.dim,
      8,
      [&](auto t) {
        return packs_fit<decltype(t)>(p.rows.dim, frame_strides_gcd(p.rows), {p.x, p.shift, p.scale, p.y});
      },
      [&](auto t, auto w, auto packs, unsigned grid) {
        layer_norm_modulate_kernel<decltype(t), decltype(w)::value, decltype(packs)::value>
            <<<grid, kThreads, 0, stream>>>(p);
      });
}

void gated_residual_cuda(const GatedResidualParams& p, cudaStream_t stream) {
  launch(
      "gated_residual",
      p.dtype,
      p.rows.rows(),
      p.rows.dim,
      // No statistics to keep a row in registers for: short segments (57 registers a thread for bfloat16
      // against 167 at 8 packs) leave room for more warps, and so more loads in flight.
      2,
      [&](auto t) {
        return packs_fit<decltype(t)>(p.rows.dim, frame_strides_gcd(p.rows), {p.x, p.y, p.gate, p.out});
      },
      [&](auto t, auto w, auto packs, unsigned grid) {
        gated_residual_kernel<decltype(t), decltype(w)::value, decltype(packs)::value>
            <<<grid, kThreads, 0, stream>>>(p);
      });
}

} // namespace arl2::kernels
