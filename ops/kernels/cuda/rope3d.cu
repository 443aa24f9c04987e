// arl2::rope3d on CUDA, ops/specs/rope3d.md (1)-(2). One thread per (token, pair): it forms the pair's
// angle once, in float64, and rotates that pair in every head of the token, a group of heads at a time.
#include "../common/check.h"
#include "convert.cuh"
#include "rope3d_cuda.h"

namespace arl2::kernels {
namespace {

constexpr int kRopeThreads = 256;
constexpr int kHeadGroup = 4;

template <typename T>
__global__ void __launch_bounds__(kRopeThreads) rope3d_kernel(Rope3dParams p) {
  const Rope3dSplit split = rope3d_split(p.dim);
  const int64_t pairs = p.dim / 2, per_frame = p.height * p.width;
  const int64_t total = p.batch * p.tokens * pairs;
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx % pairs, bl = idx / pairs, l = bl % p.tokens;
    // (1): the pair's axis, its index within the axis, and the token's position along the axis
    int64_t j = i, size = split.t, pos = p.frame_offset + l / per_frame;
    if (i >= split.t / 2 + split.h / 2) {
      j = i - split.t / 2 - split.h / 2, size = split.w, pos = l % p.width;
    } else if (i >= split.t / 2) {
      j = i - split.t / 2, size = split.h, pos = (l / p.width) % p.height;
    }
    double s, c;
    sincos(static_cast<double>(pos) * pow(10000.0, -2.0 * static_cast<double>(j) / static_cast<double>(size)), &s, &c);
    const float cf = static_cast<float>(c), sf = p.inverse ? -static_cast<float>(s) : static_cast<float>(s);
    const int64_t base = bl * p.heads * p.dim + 2 * i;
    // The pairs of kHeadGroup heads are loaded before any is stored (the compiler must assume y may alias x and
    // would not move a load above a store by itself), so a thread waits for memory once a group, not once a head.
    for (int64_t h0 = 0; h0 < p.heads; h0 += kHeadGroup) {
      float x0[kHeadGroup], x1[kHeadGroup];
#pragma unroll
      for (int u = 0; u < kHeadGroup; ++u) {
        if (h0 + u < p.heads) {
          const T* xp = x + base + (h0 + u) * p.dim;
          x0[u] = to_f32(xp[0]);
          x1[u] = to_f32(xp[1]);
        }
      }
#pragma unroll
      for (int u = 0; u < kHeadGroup; ++u) {
        if (h0 + u < p.heads) {
          T* yp = y + base + (h0 + u) * p.dim;
          yp[0] = from_f32<T>(x0[u] * cf - x1[u] * sf); // (2)
          yp[1] = from_f32<T>(x0[u] * sf + x1[u] * cf);
        }
      }
    }
  }
}

template <typename T>
void launch_rope3d(const Rope3dParams& p, cudaStream_t stream) {
  const int64_t total = p.batch * p.tokens * (p.dim / 2);
  const int64_t blocks = (total + kRopeThreads - 1) / kRopeThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
  rope3d_kernel<T><<<grid, kRopeThreads, 0, stream>>>(p);
  const cudaError_t e = cudaGetLastError();
  ARL2_CHECK(e == cudaSuccess, "launch of rope3d_kernel failed: ", cudaGetErrorString(e));
}

} // namespace

void rope3d_cuda(const Rope3dParams& p, cudaStream_t stream) {
  if (p.batch * p.tokens * p.heads * p.dim == 0) {
    return;
  }
  switch (p.dtype) {
    case DType::kFloat32:
      launch_rope3d<float>(p, stream);
      break;
    case DType::kBFloat16:
      launch_rope3d<__nv_bfloat16>(p, stream);
      break;
    case DType::kFloat16:
      launch_rope3d<__half>(p, stream);
      break;
    default:
      ARL2_CHECK(false, "rope3d: CUDA takes float32, bfloat16 or float16 (float64 runs on the CPU)");
  }
}

} // namespace arl2::kernels
