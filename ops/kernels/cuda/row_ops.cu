// The row-wise fused ops on CUDA, ops/specs/row_ops.md (1)-(3). One warp per row of `dim` elements:
// the row statistics are warp sums in float32, and the row is read again for the output (from L1 /
// L2: a 1536-wide bfloat16 row is 3 KB), so each op makes one pass over memory, rounding once. Each
// lane moves W elements at a time: 16 bytes where the row length and the pointers allow (a warp then
// reads 512 contiguous bytes an instruction, which one element a lane, 64 bytes, leaves far below the
// memory's bandwidth), one otherwise.
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

template <typename T, int W>
struct alignas(sizeof(T) * W) Pack {
  T v[W];
};

template <typename T, int W>
__device__ __forceinline__ void load(const T* p, float (&out)[W]) {
  const Pack<T, W> pack = *reinterpret_cast<const Pack<T, W>*>(p);
#pragma unroll
  for (int i = 0; i < W; ++i) {
    out[i] = to_f32(pack.v[i]);
  }
}

template <typename T, int W>
__device__ __forceinline__ void store(T* p, const float (&in)[W]) {
  Pack<T, W> pack;
#pragma unroll
  for (int i = 0; i < W; ++i) {
    pack.v[i] = from_f32<T>(in[i]);
  }
  *reinterpret_cast<Pack<T, W>*>(p) = pack;
}

template <typename T, int W>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(RmsNormParams p) {
  const T* w = static_cast<const T*>(p.weight);
  for_each_row(p.rows, [&](int64_t row, int lane) {
    const T* x = static_cast<const T*>(p.x) + row * p.dim;
    T* y = static_cast<T*>(p.y) + row * p.dim;
    float squares = 0.f;
    for (int64_t c = lane * W; c < p.dim; c += 32 * W) {
      float v[W];
      load<T, W>(x + c, v);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        squares += v[i] * v[i];
      }
    }
    const float r = rsqrtf(warp_sum(squares) / static_cast<float>(p.dim) + static_cast<float>(p.eps));
    for (int64_t c = lane * W; c < p.dim; c += 32 * W) {
      float v[W], g[W];
      load<T, W>(x + c, v);
      load<T, W>(w + c, g);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        v[i] = v[i] * r * g[i];
      }
      store<T, W>(y + c, v);
    }
  });
}

template <typename T, int W>
__global__ void __launch_bounds__(kThreads) layer_norm_modulate_kernel(LayerNormModulateParams p) {
  const FrameRows f = p.rows;
  for_each_row(f.rows(), [&](int64_t row, int lane) {
    const T* x = static_cast<const T*>(p.x) + row * f.dim;
    const T* shift = static_cast<const T*>(p.shift) + f.frame_offset(row);
    const T* scale = static_cast<const T*>(p.scale) + f.frame_offset(row);
    T* y = static_cast<T*>(p.y) + row * f.dim;
    const float inv_dim = 1.f / static_cast<float>(f.dim);
    float sum = 0.f;
    for (int64_t c = lane * W; c < f.dim; c += 32 * W) {
      float v[W];
      load<T, W>(x + c, v);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        sum += v[i];
      }
    }
    const float mean = warp_sum(sum) * inv_dim;
    // The variance of the centred values: a residual stream far from zero mean keeps its precision.
    float centred = 0.f;
    for (int64_t c = lane * W; c < f.dim; c += 32 * W) {
      float v[W];
      load<T, W>(x + c, v);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        centred += (v[i] - mean) * (v[i] - mean);
      }
    }
    const float r = rsqrtf(warp_sum(centred) * inv_dim + static_cast<float>(p.eps));
    for (int64_t c = lane * W; c < f.dim; c += 32 * W) {
      float v[W], sh[W], sc[W];
      load<T, W>(x + c, v);
      load<T, W>(shift + c, sh);
      load<T, W>(scale + c, sc);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        v[i] = (v[i] - mean) * r * (1.f + sc[i]) + sh[i];
      }
      store<T, W>(y + c, v);
    }
  });
}

template <typename T, int W>
__global__ void __launch_bounds__(kThreads) gated_residual_kernel(GatedResidualParams p) {
  const FrameRows f = p.rows;
  for_each_row(f.rows(), [&](int64_t row, int lane) {
    const int64_t base = row * f.dim;
    const T* x = static_cast<const T*>(p.x) + base;
    const T* y = static_cast<const T*>(p.y) + base;
    const T* gate = static_cast<const T*>(p.gate) + f.frame_offset(row);
    T* out = static_cast<T*>(p.out) + base;
    for (int64_t c = lane * W; c < f.dim; c += 32 * W) {
      float a[W], b[W], g[W];
      load<T, W>(x + c, a);
      load<T, W>(y + c, b);
      load<T, W>(gate + c, g);
#pragma unroll
      for (int i = 0; i < W; ++i) {
        a[i] += b[i] * g[i];
      }
      store<T, W>(out + c, a);
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

// Calls run(T{}, std::integral_constant<int, W>{}, grid) for dtype's element type T and the widest pack
// W that fits(T{}) allows, with a grid of warps for `rows` rows; throws naming `op` for float64 or a failed
// launch.
template <typename Fits, typename Run>
void launch(const char* op, DType dtype, int64_t rows, Fits fits, Run run) {
  if (rows == 0) {
    return;
  }
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
  const auto widest = [&](auto t) {
    using T = decltype(t);
    if (fits(t)) {
      run(t, std::integral_constant<int, 16 / sizeof(T)>{}, grid);
    } else {
      run(t, std::integral_constant<int, 1>{}, grid);
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
      p.dim == 0 ? 0 : p.rows,
      [&](auto t) {
        return packs_fit<decltype(t)>(p.dim, 0, {p.x, p.weight, p.y});
      },
      [&](auto t, auto w, unsigned grid) {
        rms_norm_kernel<decltype(t), decltype(w)::value><<<grid, kThreads, 0, stream>>>(p);
      });
}

void layer_norm_modulate_cuda(const LayerNormModulateParams& p, cudaStream_t stream) {
  launch(
      "layer_norm_modulate",
      p.dtype,
      p.rows.dim == 0 ? 0 : p.rows.rows(),
      [&](auto t) {
        return packs_fit<decltype(t)>(p.rows.dim, frame_strides_gcd(p.rows), {p.x, p.shift, p.scale, p.y});
      },
      [&](auto t, auto w, unsigned grid) {
        layer_norm_modulate_kernel<decltype(t), decltype(w)::value><<<grid, kThreads, 0, stream>>>(p);
      });
}

void gated_residual_cuda(const GatedResidualParams& p, cudaStream_t stream) {
  launch(
      "gated_residual",
      p.dtype,
      p.rows.dim == 0 ? 0 : p.rows.rows(),
      [&](auto t) {
        return packs_fit<decltype(t)>(p.rows.dim, frame_strides_gcd(p.rows), {p.x, p.y, p.gate, p.out});
      },
      [&](auto t, auto w, unsigned grid) {
        gated_residual_kernel<decltype(t), decltype(w)::value><<<grid, kThreads, 0, stream>>>(p);
      });
}

} // namespace arl2::kernels
