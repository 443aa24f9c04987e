// The row-wise fused ops on CUDA, ops/specs/row_ops.md (1)-(3). A row belongs to a group of L lanes of one
// warp: 32 for long rows, fewer (16, 8) where a row is shorter than 32 packs, so that a 128-channel head of
// bfloat16 (16 packs) does not leave half a warp idle. The row statistics are group sums in float32, rounding
// once. Each lane moves W elements at a time: 16 bytes where the row length and the pointers allow (a warp then
// reads 512 contiguous bytes an instruction, which one element a lane, 64 bytes, leaves far below the memory's
// bandwidth), one otherwise. A row is read in segments of P packs a lane, all P loads issued before the first
// is used, so a lane waits for memory once a segment and not once a pack; P is the fewest of 1, 2, 3, 4, 6, 8
// that hold the row (1536 bfloat16 channels: 6 packs of 8 a lane), so a row of one segment stays in registers
// between the statistics and the output, x is read from memory once, and no register holds a pack past the
// row's end (which would cost warps an SM). Longer rows are read again for each later pass. gated_residual
// keeps no statistics and reads in segments of at most 2 packs.
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

// The sum of x over the aligned group of L lanes that holds this lane's row; every lane of the warp calls it.
template <int L>
__device__ __forceinline__ float group_sum(float x) {
#pragma unroll
  for (int offset = L / 2; offset > 0; offset /= 2) {
    x += __shfl_xor_sync(0xffffffffu, x, offset);
  }
  return x;
}

// Rows go to groups of L lanes: each warp of the grid takes 32 / L rows at a time, row0, row0 + stride, ...,
// and calls body(row, lane, limit) on every lane, lane counted within the group. The loop is the warp's, not
// the group's, so that all 32 lanes reach the group sums: a group past the last row gets that row with
// limit 0 (it reads and writes nothing), the others limit `dim`.
template <int L, typename Body>
__device__ __forceinline__ void for_each_row(int64_t rows, int64_t dim, Body body) {
  constexpr int kGroups = 32 / L;
  const int lane = threadIdx.x % 32;
  const int64_t first = (blockIdx.x * int64_t{kWarps} + threadIdx.x / 32) * kGroups;
  for (int64_t row0 = first; row0 < rows; row0 += int64_t{gridDim.x} * kWarps * kGroups) {
    const int64_t row = row0 + lane / L;
    body(row < rows ? row : rows - 1, lane % L, row < rows ? dim : 0);
  }
}

// Packs i = 0 .. P-1 of lane `lane` (of a group of L) in the segment starting at element `start`: elements
// start + (L i + lane) W ..., zeros from `limit` on (a whole number of packs when W > 1).
template <typename T, int W, int P, int L>
__device__ __forceinline__ void load_segment(const T* row, int64_t start, int64_t limit, int lane, float (&v)[P][W]) {
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int64_t c = start + (int64_t{i} * L + lane) * W;
    if (c < limit) {
      load<T, W>(row + c, v[i]);
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) {
        v[i][j] = 0.f;
      }
    }
  }
}

// Calls f(i, c) for each pack i of the segment at `start` that lies below `limit`, c its first element.
template <int W, int P, int L, typename F>
__device__ __forceinline__ void for_each_pack(int64_t start, int64_t limit, int lane, F f) {
#pragma unroll
  for (int i = 0; i < P; ++i) {
    const int64_t c = start + (int64_t{i} * L + lane) * W;
    if (c < limit) {
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

template <typename T, int W, int P, int L>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(RmsNormParams p) {
  constexpr int64_t kSegment = int64_t{L} * W * P;
  const T* w = static_cast<const T*>(p.weight);
  const bool one_segment = p.dim <= kSegment;
  for_each_row<L>(p.rows, p.dim, [&](int64_t row, int lane, int64_t limit) {
    const T* x = static_cast<const T*>(p.x) + row * p.dim;
    T* y = static_cast<T*>(p.y) + row * p.dim;
    float v[P][W];
    float squares = 0.f;
    for (int64_t start = 0; start < p.dim; start += kSegment) {
      load_segment<T, W, P, L>(x, start, limit, lane, v);
      squares += segment_sum<W, P>(v, [](float e) { return e * e; });
    }
    const float r = rsqrtf(group_sum<L>(squares) / static_cast<float>(p.dim) + static_cast<float>(p.eps));
    for (int64_t start = 0; start < p.dim; start += kSegment) {
      if (!one_segment) {
        load_segment<T, W, P, L>(x, start, limit, lane, v);
      }
      for_each_pack<W, P, L>(start, limit, lane, [&](int i, int64_t c) {
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

template <typename T, int W, int P, int L>
__global__ void __launch_bounds__(kThreads) layer_norm_modulate_kernel(LayerNormModulateParams p) {
  constexpr int64_t kSegment = int64_t{L} * W * P;
  const FrameRows f = p.rows;
  const bool one_segment = f.dim <= kSegment;
  for_each_row<L>(f.rows(), f.dim, [&](int64_t row, int lane, int64_t limit) {
    const T* x = static_cast<const T*>(p.x) + row * f.dim;
    const T* shift = static_cast<const T*>(p.shift) + f.frame_offset(row);
    const T* scale = static_cast<const T*>(p.scale) + f.frame_offset(row);
    T* y = static_cast<T*>(p.y) + row * f.dim;
    const float inv_dim = 1.f / static_cast<float>(f.dim);
    float v[P][W];
    float sum = 0.f;
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      load_segment<T, W, P, L>(x, start, limit, lane, v);
      sum += segment_sum<W, P>(v, [](float e) { return e; });
    }
    const float mean = group_sum<L>(sum) * inv_dim;
    // The variance of the centred values: a residual stream far from zero mean keeps its precision.
    float centred = 0.f;
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      if (!one_segment) {
        load_segment<T, W, P, L>(x, start, limit, lane, v);
      }
      for_each_pack<W, P, L>(start, limit, lane, [&](int i, int64_t) {
#pragma unroll
        for (int j = 0; j < W; ++j) {
          const float d = v[i][j] - mean;
          centred += d * d;
        }
      });
    }
    const float r = rsqrtf(group_sum<L>(centred) * inv_dim + static_cast<float>(p.eps));
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      if (!one_segment) {
        load_segment<T, W, P, L>(x, start, limit, lane, v);
      }
      for_each_pack<W, P, L>(start, limit, lane, [&](int i, int64_t c) {
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

template <typename T, int W, int P, int L>
__global__ void __launch_bounds__(kThreads) gated_residual_kernel(GatedResidualParams p) {
  constexpr int64_t kSegment = int64_t{L} * W * P;
  const FrameRows f = p.rows;
  for_each_row<L>(f.rows(), f.dim, [&](int64_t row, int lane, int64_t limit) {
    const int64_t base = row * f.dim;
    const T* x = static_cast<const T*>(p.x) + base;
    const T* y = static_cast<const T*>(p.y) + base;
    const T* gate = static_cast<const T*>(p.gate) + f.frame_offset(row);
    T* out = static_cast<T*>(p.out) + base;
    for (int64_t start = 0; start < f.dim; start += kSegment) {
      float a[P][W], b[P][W];
      load_segment<T, W, P, L>(x, start, limit, lane, a);
      load_segment<T, W, P, L>(y, start, limit, lane, b);
      for_each_pack<W, P, L>(start, limit, lane, [&](int i, int64_t c) {
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

// Calls run(T{}, W, P, L, grid) (each an std::integral_constant<int, ...> but the grid) for dtype's element type
// T, the widest pack W that fits(T{}) allows, the lanes a row L (32, or 16 or 8 for rows of at most that many
// packs), the fewest packs a lane P of 1, 2, 3, 4, 6, 8 (at most max_packs) that hold a row of `dim`
// (max_packs for longer rows, read in segments), and a grid of warps for `rows` rows; throws naming `op` for
// float64 or a failed launch.
template <typename Fits, typename Run>
void launch(const char* op, DType dtype, int64_t rows, int64_t dim, int max_packs, Fits fits, Run run) {
  if (rows == 0 || dim == 0) {
    return;
  }
  const auto with_lanes = [&](auto t, auto w, auto packs, auto lanes) {
    constexpr int64_t rows_a_cta = int64_t{kWarps} * (32 / decltype(lanes)::value);
    const int64_t blocks = (rows + rows_a_cta - 1) / rows_a_cta;
    run(t, w, packs, lanes, static_cast<unsigned>(std::min<int64_t>(blocks, 65535 * 16)));
  };
  const auto with_packs = [&](auto t, auto w) {
    constexpr int kW = decltype(w)::value;
    const int64_t row_packs = (dim + kW - 1) / kW;
    if (row_packs <= 8) {
      with_lanes(t, w, std::integral_constant<int, 1>{}, std::integral_constant<int, 8>{});
      return;
    }
    if (row_packs <= 16) {
      with_lanes(t, w, std::integral_constant<int, 1>{}, std::integral_constant<int, 16>{});
      return;
    }
    const auto l32 = std::integral_constant<int, 32>{};
    const int64_t packs = std::min<int64_t>(max_packs, (row_packs + 31) / 32);
    if (packs <= 1) {
      with_lanes(t, w, std::integral_constant<int, 1>{}, l32);
    } else if (packs <= 2) {
      with_lanes(t, w, std::integral_constant<int, 2>{}, l32);
    } else if (packs <= 3) {
      with_lanes(t, w, std::integral_constant<int, 3>{}, l32);
    } else if (packs <= 4) {
      with_lanes(t, w, std::integral_constant<int, 4>{}, l32);
    } else if (packs <= 6) {
      with_lanes(t, w, std::integral_constant<int, 6>{}, l32);
    } else {
      with_lanes(t, w, std::integral_constant<int, 8>{}, l32);
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
      [&](auto t, auto w, auto packs, auto lanes, unsigned grid) {
        rms_norm_kernel<decltype(t), decltype(w)::value, decltype(packs)::value, decltype(lanes)::value>
            <<<grid, kThreads, 0, stream>>>(p);
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
      [&](auto t, auto w, auto packs, auto lanes, unsigned grid) {
        layer_norm_modulate_kernel<decltype(t), decltype(w)::value, decltype(packs)::value, decltype(lanes)::value>
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
      [&](auto t, auto w, auto packs, auto lanes, unsigned grid) {
        gated_residual_kernel<decltype(t), decltype(w)::value, decltype(packs)::value, decltype(lanes)::value>
            <<<grid, kThreads, 0, stream>>>(p);
      });
}

} // namespace arl2::kernels
