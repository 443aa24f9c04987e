// The row-wise fused ops on CUDA, ops/specs/row_ops.md (1)-(3). One warp per row of `dim` elements:
// the row statistics are warp sums in float32, and the row is read again for the output (from L1 /
// L2: a 1536-wide bfloat16 row is 3 KB), so each op makes one pass over memory, rounding once.
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

template <typename T>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(RmsNormParams p) {
  const T* w = static_cast<const T*>(p.weight);
  for_each_row(p.rows, [&](int64_t row, int lane) {
    const T* x = static_cast<const T*>(p.x) + row * p.dim;
    T* y = static_cast<T*>(p.y) + row * p.dim;
    float squares = 0.f;
    for (int64_t c = lane; c < p.dim; c += 32) {
      const float v = to_f32(x[c]);
      squares += v * v;
    }
    const float r = rsqrtf(warp_sum(squares) / static_cast<float>(p.dim) + static_cast<float>(p.eps));
    for (int64_t c = lane; c < p.dim; c += 32) {
      y[c] = from_f32<T>(to_f32(x[c]) * r * to_f32(w[c]));
    }
  });
}

template <typename T>
__global__ void __launch_bounds__(kThreads) layer_norm_modulate_kernel(LayerNormModulateParams p) {
  const FrameRows f = p.rows;
  for_each_row(f.rows(), [&](int64_t row, int lane) {
    const T* x = static_cast<const T*>(p.x) + row * f.dim;
    const T* shift = static_cast<const T*>(p.shift) + f.frame_offset(row);
    const T* scale = static_cast<const T*>(p.scale) + f.frame_offset(row);
    T* y = static_cast<T*>(p.y) + row * f.dim;
    const float inv_dim = 1.f / static_cast<float>(f.dim);
    float sum = 0.f;
    for (int64_t c = lane; c < f.dim; c += 32) {
      sum += to_f32(x[c]);
    }
    const float mean = warp_sum(sum) * inv_dim;
    // The variance of the centred values: a residual stream far from zero mean keeps its precision.
    float centred = 0.f;
    for (int64_t c = lane; c < f.dim; c += 32) {
      const float d = to_f32(x[c]) - mean;
      centred += d * d;
    }
    const float r = rsqrtf(warp_sum(centred) * inv_dim + static_cast<float>(p.eps));
    for (int64_t c = lane; c < f.dim; c += 32) {
      y[c] = from_f32<T>((to_f32(x[c]) - mean) * r * (1.f + to_f32(scale[c])) + to_f32(shift[c]));
    }
  });
}

template <typename T>
__global__ void __launch_bounds__(kThreads) gated_residual_kernel(GatedResidualParams p) {
  const FrameRows f = p.rows;
  for_each_row(f.rows(), [&](int64_t row, int lane) {
    const int64_t base = row * f.dim;
    const T* x = static_cast<const T*>(p.x) + base;
    const T* y = static_cast<const T*>(p.y) + base;
    const T* gate = static_cast<const T*>(p.gate) + f.frame_offset(row);
    T* out = static_cast<T*>(p.out) + base;
    for (int64_t c = lane; c < f.dim; c += 32) {
      out[c] = from_f32<T>(to_f32(x[c]) + to_f32(y[c]) * to_f32(gate[c]));
    }
  });
}

// Calls run(T{}, grid) for dtype's element type T, with a grid of warps for `rows` rows; throws naming
// `op` for float64 or a failed launch.
template <typename Run>
void launch(const char* op, DType dtype, int64_t rows, Run run) {
  if (rows == 0) {
    return;
  }
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
  switch (dtype) {
    case DType::kFloat32:
      run(float{}, grid);
      break;
    case DType::kBFloat16:
      run(__nv_bfloat16{}, grid);
      break;
    case DType::kFloat16:
      run(__half{}, grid);
      break;
    default:
      ARL2_CHECK(false, op, ": CUDA takes float32, bfloat16 or float16 (float64 runs on the CPU)");
  }
  const cudaError_t e = cudaGetLastError();
  ARL2_CHECK(e == cudaSuccess, "launch of ", op, "'s kernel failed: ", cudaGetErrorString(e));
}

} // namespace

void rms_norm_cuda(const RmsNormParams& p, cudaStream_t stream) {
  launch("rms_norm", p.dtype, p.dim == 0 ? 0 : p.rows, [&](auto t, unsigned grid) {
    rms_norm_kernel<decltype(t)><<<grid, kThreads, 0, stream>>>(p);
  });
}

void layer_norm_modulate_cuda(const LayerNormModulateParams& p, cudaStream_t stream) {
  launch("layer_norm_modulate", p.dtype, p.rows.dim == 0 ? 0 : p.rows.rows(), [&](auto t, unsigned grid) {
    layer_norm_modulate_kernel<decltype(t)><<<grid, kThreads, 0, stream>>>(p);
  });
}

void gated_residual_cuda(const GatedResidualParams& p, cudaStream_t stream) {
  launch("gated_residual", p.dtype, p.rows.dim == 0 ? 0 : p.rows.rows(), [&](auto t, unsigned grid) {
    gated_residual_kernel<decltype(t)><<<grid, kThreads, 0, stream>>>(p);
  });
}

} // namespace arl2::kernels
