// arl2::rope3d on CUDA, ops/specs/rope3d.md (1)-(2). One thread per (token, run of W elements of the head dim):
// it forms the angles of its W / 2 pairs once, in float64, and rotates those pairs in every head of the token,
// a group of heads at a time. W = 16 bytes of elements where D, x's strides and the pointers allow (one load and
// one store an element run), 2 otherwise. The pairs' frequencies 10000^(-2j / d_a) are formed once a CTA, in
// shared memory: a float64 pow per pair and token would cost more than the token's memory traffic.
#include <cstdint>

#include "../common/check.h"
#include "convert.cuh"
#include "rope3d_cuda.h"

namespace arl2::kernels {
namespace {

constexpr int kRopeThreads = 128; // a generated block's 75k threads then spread over every SM
constexpr int kHeadGroup = 4;

// W elements of T at p into v: one access when kPacked (p aligned to the pack), one an element otherwise.
template <typename T, int W, bool kPacked>
__device__ __forceinline__ void load_run(const T* p, float (&v)[W]) {
  if constexpr (kPacked) {
    load<T, W>(p, v);
  } else {
#pragma unroll
    for (int i = 0; i < W; ++i) {
      v[i] = to_f32(p[i]);
    }
  }
}

template <typename T, int W, bool kPacked>
__device__ __forceinline__ void store_run(T* p, const float (&v)[W]) {
  if constexpr (kPacked) {
    store<T, W>(p, v);
  } else {
#pragma unroll
    for (int i = 0; i < W; ++i) {
      p[i] = from_f32<T>(v[i]);
    }
  }
}

template <typename T, int W, bool kPacked>
__global__ void __launch_bounds__(kRopeThreads) rope3d_kernel(Rope3dParams p) {
  constexpr int kPairs = W / 2;
  const Rope3dSplit split = rope3d_split(p.dim);
  const int64_t runs = p.dim / W, per_frame = p.height * p.width;
  const int64_t total = p.batch * p.tokens * runs;
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  extern __shared__ double frequency[]; // [D / 2]
  for (int64_t i = threadIdx.x; i < p.dim / 2; i += blockDim.x) {
    // (1): the pair's index j within its axis part of size d_a
    int64_t j = i, size = split.t;
    if (i >= split.t / 2 + split.h / 2) {
      j = i - split.t / 2 - split.h / 2, size = split.w;
    } else if (i >= split.t / 2) {
      j = i - split.t / 2, size = split.h;
    }
    frequency[i] = pow(10000.0, -2.0 * static_cast<double>(j) / static_cast<double>(size));
  }
  __syncthreads();
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t run = idx % runs, bl = idx / runs, l = bl % p.tokens, b = bl / p.tokens;
    float cf[kPairs], sf[kPairs];
#pragma unroll
    for (int u = 0; u < kPairs; ++u) {
      // (1): the token's position along the pair's axis
      const int64_t i = run * kPairs + u;
      int64_t pos = p.frame_offset + l / per_frame;
      if (i >= split.t / 2 + split.h / 2) {
        pos = l % p.width;
      } else if (i >= split.t / 2) {
        pos = (l / p.width) % p.height;
      }
      double s, c;
      sincos(static_cast<double>(pos) * frequency[i], &s, &c);
      cf[u] = static_cast<float>(c);
      sf[u] = p.inverse ? -static_cast<float>(s) : static_cast<float>(s);
    }
    const T* xt = x + b * p.x_stride_b + l * p.x_stride_l + run * W;
    T* yt = y + bl * p.heads * p.dim + run * W;
    // The runs of kHeadGroup heads are loaded before any is stored (the compiler must assume y may alias x and
    // would not move a load above a store by itself), so a thread waits for memory once a group, not once a head.
    for (int64_t h0 = 0; h0 < p.heads; h0 += kHeadGroup) {
      float v[kHeadGroup][W];
#pragma unroll
      for (int g = 0; g < kHeadGroup; ++g) {
        if (h0 + g < p.heads) {
          load_run<T, W, kPacked>(xt + (h0 + g) * p.x_stride_h, v[g]);
        }
      }
#pragma unroll
      for (int g = 0; g < kHeadGroup; ++g) {
        if (h0 + g < p.heads) {
          float r[W];
#pragma unroll
          for (int u = 0; u < kPairs; ++u) { // (2)
            r[2 * u] = v[g][2 * u] * cf[u] - v[g][2 * u + 1] * sf[u];
            r[2 * u + 1] = v[g][2 * u] * sf[u] + v[g][2 * u + 1] * cf[u];
          }
          store_run<T, W, kPacked>(yt + (h0 + g) * p.dim, r);
        }
      }
    }
  }
}

template <typename T, int W, bool kPacked>
void launch_rope3d_runs(const Rope3dParams& p, cudaStream_t stream) {
  const int64_t total = p.batch * p.tokens * (p.dim / W);
  const int64_t blocks = (total + kRopeThreads - 1) / kRopeThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
  rope3d_kernel<T, W, kPacked><<<grid, kRopeThreads, sizeof(double) * (p.dim / 2), stream>>>(p);
  const cudaError_t e = cudaGetLastError();
  ARL2_CHECK(e == cudaSuccess, "launch of rope3d_kernel failed: ", cudaGetErrorString(e));
}

template <typename T>
void launch_rope3d(const Rope3dParams& p, cudaStream_t stream) {
  constexpr int64_t w = 16 / sizeof(T);
  const bool packed = p.dim % w == 0 && p.x_stride_b % w == 0 && p.x_stride_l % w == 0 && p.x_stride_h % w == 0 &&
                      reinterpret_cast<std::uintptr_t>(p.x) % 16 == 0 &&
                      reinterpret_cast<std::uintptr_t>(p.y) % 16 == 0;
  if (packed) {
    launch_rope3d_runs<T, static_cast<int>(w), true>(p, stream);
  } else {
    launch_rope3d_runs<T, 2, false>(p, stream);
  }
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
