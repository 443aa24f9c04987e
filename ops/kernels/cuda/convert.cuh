// Element conversion between the kernels' input types (float, bfloat16, float16) and the float32 they
// compute in, one element or an aligned pack of W at a time; conversions to the narrow types round to nearest.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace arl2::kernels {

template <typename T>
__device__ __forceinline__ float to_f32(T x);
template <>
__device__ __forceinline__ float to_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <>
__device__ __forceinline__ float to_f32<__half>(__half x) {
  return __half2float(x);
}

template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) {
  return __float2half_rn(x);
}

// W elements moved as one access: p must be aligned to the pack's size.
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

} // namespace arl2::kernels
