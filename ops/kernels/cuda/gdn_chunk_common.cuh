// Device helpers shared by the GDN CUDA kernels (gdn_block_scan_fwd.cu, gdn_block_scan_bwd.cu,
// gdn_block_read.cu): dtype conversion, 16-byte row loaders into fp32 shared memory, cp.async, and
// tensor-core tile GEMMs (mma.sync m16n8k8 tf32) over fp32 shared-memory tiles.
//
// Precision policy (template flag kSplit of every GEMM helper):
//   kSplit = true : error-compensated 3xTF32. Each operand element x becomes hi = tf32(x) and
//                   lo = x - hi (truncated to tf32 by the tensor core); the product accumulates
//                   lo*hi + hi*lo + hi*hi in fp32, which loses only the lo*lo term (~2^-21 relative),
//                   i.e. fp32-grade products. Used for float32 inputs (tolerance 1e-4 against float64)
//                   and, for every dtype, in the cheap cross-block combines.
//   kSplit = false: plain tf32 (each operand rounded to nearest tf32, 10 mantissa bits; fp32 accumulation).
//                   bf16 / fp16 values convert to tf32 exactly, so only fp32 intermediates are rounded.
// Accumulation is fp32 everywhere; every result is stored to fp32 memory.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "../common/check.h"
#include "convert.cuh"
#include "gdn_cuda.h"

namespace arl2::kernels::gdn_detail {

constexpr int kChunk = 64;           // C of the spec: tokens per chunk
constexpr int kLdChunk = kChunk + 4; // leading dimension of C x C (and C x 64) fp32 tiles in shared memory
constexpr int kWarp = 32;
constexpr int kMaxHeadDim = 128; // K, V <= 128 (gdn_limits.cpp)
constexpr int kMaxSegments = 4;  // segments per block of the forward's parallel chain (chain_segments)

#ifndef ARL2_GDN_CHAIN_THREADS
#define ARL2_GDN_CHAIN_THREADS 256 // threads of the sequential chain kernels (a tuning knob)
#endif

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// ----------------------------------------------------------------------------------------------
// Host helpers
// ----------------------------------------------------------------------------------------------

inline size_t align_up(size_t x, size_t a) {
  return (x + a - 1) / a * a;
}

// Carves 256-byte aligned sub-buffers out of one workspace, in order. Used twice with the same calls:
// once with base = 0 to size the workspace, once with the real pointer.
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(static_cast<char*>(base)) {}
  template <typename T>
  T* take(size_t count) {
    offset_ = align_up(offset_, 256);
    T* p = base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + offset_);
    offset_ += count * sizeof(T);
    return p;
  }
  size_t bytes() const {
    return align_up(offset_, 256);
  }

 private:
  char* base_;
  size_t offset_ = 0;
};

inline bool is_aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

// Calls f(T{}) with T the C++ element type of dtype (float, __nv_bfloat16, __half).
template <typename F>
void dispatch_dtype(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      f(float{});
      break;
    case DType::kBFloat16:
      f(__nv_bfloat16{});
      break;
    case DType::kFloat16:
      f(__half{});
      break;
    default:
      ARL2_CHECK(false, op, ": CUDA kernels take float32, bfloat16 or float16 inputs (float64 is CPU only)");
  }
}

// Checks the sizes every GDN CUDA kernel relies on (gdn_cuda_unsupported, gdn_limits.cpp).
inline void check_shape(const GdnShape& s, const char* op) {
  const std::string reason = gdn_cuda_unsupported(s);
  ARL2_CHECK(reason.empty(), op, ": ", reason);
}

// A tensor pointer the kernels read with 16-byte vector accesses (null allowed where the tensor is optional).
inline void check_tensor_ptr(const void* p, const char* name, const char* op, bool required = true) {
  ARL2_CHECK(!required || p != nullptr, op, ": ", name, " is null");
  ARL2_CHECK(
      is_aligned(p, 16),
      op,
      ": ",
      name,
      " must be 16-byte aligned (the kernels use 16-byte vector accesses); pass a freshly allocated "
      "contiguous tensor");
}

// Raises the dynamic shared-memory limit of a kernel (needed above 48 KB) after checking the device has it.
template <typename Kernel>
void set_smem_limit(Kernel kernel, size_t bytes, const char* name) {
  int dev = 0;
  ARL2_CHECK(cudaGetDevice(&dev) == cudaSuccess, "cudaGetDevice failed before launching ", name);
  int optin = 0;
  ARL2_CHECK(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess,
      "cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin) failed for ",
      name);
  ARL2_CHECK(
      bytes <= static_cast<size_t>(optin),
      name,
      " needs ",
      bytes,
      " bytes of shared memory per block; the device allows ",
      optin);
  const cudaError_t e =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  ARL2_CHECK(
      e == cudaSuccess, "cudaFuncSetAttribute(MaxDynamicSharedMemorySize) for ", name, ": ", cudaGetErrorString(e));
}

// Streaming multiprocessors of the current device (the one the launches go to).
inline int sm_count() {
  int dev = 0, sms = 0;
  ARL2_CHECK(cudaGetDevice(&dev) == cudaSuccess, "cudaGetDevice failed");
  ARL2_CHECK(
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess,
      "cudaDeviceGetAttribute(MultiProcessorCount) failed");
  return sms;
}

inline void check_launch(const char* name) {
  const cudaError_t e = cudaGetLastError();
  ARL2_CHECK(e == cudaSuccess, "launch of ", name, " failed: ", cudaGetErrorString(e));
}

// ----------------------------------------------------------------------------------------------
// 16-byte vectors (loads and stores of packs: convert.cuh)
// ----------------------------------------------------------------------------------------------

template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T)); // elements of T in 16 bytes

// n consecutive floats (n a multiple of 4) to / from 16-byte aligned shared memory.
template <int N>
__device__ __forceinline__ void st_f32(float* dst, const float (&x)[N]) {
  static_assert(N % 4 == 0, "vector of floats");
#pragma unroll
  for (int i = 0; i < N; i += 4)
    *reinterpret_cast<float4*>(dst + i) = make_float4(x[i], x[i + 1], x[i + 2], x[i + 3]);
}
template <int N>
__device__ __forceinline__ void ld_f32(const float* src, float (&x)[N]) {
  static_assert(N % 4 == 0, "vector of floats");
#pragma unroll
  for (int i = 0; i < N; i += 4) {
    const float4 v = *reinterpret_cast<const float4*>(src + i);
    x[i] = v.x;
    x[i + 1] = v.y;
    x[i + 2] = v.z;
    x[i + 3] = v.w;
  }
}

// 16 raw bytes holding kVec<T> elements of T (e.g. a register-staged global load) -> floats.
template <typename T>
__device__ __forceinline__ void unpack16(const uint4& raw, float (&out)[kVec<T>]) {
  Pack<T, kVec<T>> pack;
  memcpy(&pack, &raw, sizeof(pack));
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i)
    out[i] = to_f32(pack.v[i]);
}

struct NoScale {
  __device__ __forceinline__ float operator()(int) const {
    return 1.f;
  }
};

// Walks the slots (r, c) of an nrows x ncols grid that this thread owns when slot r * ncols + c is dealt
// to thread (r * ncols + c) % blockDim.x, in order, with no division per slot (an integer division per
// element was a third of the chain kernel's issue slots).
struct TileIter {
  int r, c, dr, dc, ncols;
  __device__ __forceinline__ explicit TileIter(int ncols_) : ncols(ncols_) {
    r = threadIdx.x / ncols;
    c = threadIdx.x - r * ncols;
    dr = blockDim.x / ncols;
    dc = blockDim.x - dr * ncols;
  }
  __device__ __forceinline__ void next() {
    r += dr;
    c += dc;
    if (c >= ncols) {
      c -= ncols;
      ++r;
    }
  }
};

// Loads the tile rows [0, nrows) x columns [0, ncols) of a row-strided global matrix of T (row r at
// src + r * stride) into fp32 shared memory (row r at dst + r * ld), multiplying row r by scale(r).
// Rows >= nvalid and columns >= ncols_valid are zero-filled: the padding rows of a partial chunk and
// the dead columns of a tile must be exact zeros for the GEMMs to need no masks. ncols, ncols_valid
// are multiples of 16; src, stride and ld keep 16-byte alignment. All threads of the block call it.
template <typename T, typename Scale = NoScale>
__device__ __forceinline__ void load_tile_f32(
    float* __restrict__ dst,
    int ld,
    const T* __restrict__ src,
    int64_t stride,
    int nvalid,
    int nrows,
    int ncols,
    int ncols_valid,
    Scale scale = Scale{}) {
  constexpr int VE = kVec<T>;
  constexpr int kUnroll = 4; // independent 16-byte loads in flight per thread before the first use
  TileIter it(ncols / VE);
  while (it.r < nrows) {
    float x[kUnroll][VE];
    int rr[kUnroll], cc[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      rr[u] = it.r;
      cc[u] = it.c * VE;
      if (it.r < nvalid && cc[u] < ncols_valid) {
        load<T, kVec<T>>(src + it.r * stride + cc[u], x[u]);
      } else {
#pragma unroll
        for (int i = 0; i < VE; ++i)
          x[u][i] = 0.f;
      }
      it.next();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (rr[u] < nrows) {
        const float s = rr[u] < nvalid ? scale(rr[u]) : 0.f;
#pragma unroll
        for (int i = 0; i < VE; ++i)
          x[u][i] *= s;
        st_f32(dst + rr[u] * ld + cc[u], x[u]);
      }
    }
  }
}

// Stores rows [0, nvalid) x columns [0, ncols_valid) of an fp32 shared tile (row r at src + r * ld),
// times mul, into a row-strided global matrix of T. All threads of the block call it.
template <typename T>
__device__ __forceinline__ void store_tile(
    T* __restrict__ dst,
    int64_t stride,
    const float* __restrict__ src,
    int ld,
    int nvalid,
    int ncols_valid,
    float mul) {
  constexpr int VE = kVec<T>;
  for (TileIter it(ncols_valid / VE); it.r < nvalid; it.next()) {
    const int c = it.c * VE;
    float x[VE];
    ld_f32(src + it.r * ld + c, x);
#pragma unroll
    for (int i = 0; i < VE; ++i)
      x[i] *= mul;
    store<T, kVec<T>>(dst + it.r * stride + c, x);
  }
}

// ----------------------------------------------------------------------------------------------
// cp.async (16-byte, L2 only) for fp32 tiles that already sit in the workspace in fp32
// ----------------------------------------------------------------------------------------------

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 16 : 0; // 0: the 16 bytes are zero-filled, nothing is read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Issues (without waiting) the copy of an nrows x ncols fp32 tile whose row r, column c sits at
// src[r * stride + col0 + c] into shared memory (row r at dst + r * ld); columns c >= ncols_valid are
// zero-filled without being read. ncols and ncols_valid are multiples of 4. All threads call it.
__device__ __forceinline__ void cp_async_tile(
    float* dst, int ld, const float* src, int64_t stride, int col0, int nrows, int ncols, int ncols_valid) {
  for (TileIter it(ncols / 4); it.r < nrows; it.next()) {
    const int c = it.c * 4;
    const bool valid = c < ncols_valid;
    cp_async16(dst + it.r * ld + c, valid ? src + it.r * stride + col0 + c : src, valid);
  }
}

// Plain (synchronous) fp32 tile copy global -> shared with zero-filled dead columns and rows
// (src may be null: all zeros).
__device__ __forceinline__ void copy_tile_f32(
    float* dst, int ld, const float* src, int64_t stride, int nrows, int nrows_valid, int ncols, int ncols_valid) {
  for (TileIter it(ncols / 4); it.r < nrows; it.next()) {
    const int c = it.c * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (src != nullptr && it.r < nrows_valid && c < ncols_valid) {
      v = *reinterpret_cast<const float4*>(src + it.r * stride + c);
    }
    *reinterpret_cast<float4*>(dst + it.r * ld + c) = v;
  }
}

// fp32 tile shared -> global (fp32), rows < nrows_valid, columns < ncols_valid (multiples of 4).
__device__ __forceinline__ void store_tile_f32(
    float* dst, int64_t stride, const float* src, int ld, int nrows_valid, int ncols_valid) {
  for (TileIter it(ncols_valid / 4); it.r < nrows_valid; it.next()) {
    const int c = it.c * 4;
    *reinterpret_cast<float4*>(dst + it.r * stride + c) = *reinterpret_cast<const float4*>(src + it.r * ld + c);
  }
}

// ----------------------------------------------------------------------------------------------
// Tensor-core tile GEMMs: mma.sync.m16n8k8 tf32 (fp32 accumulate) from fp32 shared-memory tiles.
//
// Why raw mma.sync and not nvcuda::wmma: with run-time leading dimensions, wmma::load_matrix_sync
// compiled to generic 64-bit loads plus per-element conversion code and no overlap of loads and MMAs
// (measured ~10x slower than the loads allow). mma.sync has a documented fragment layout (PTX ISA,
// "Matrix Fragments for mma.m16n8k8", .tf32), so the fragments are loaded here with 32-bit ld.shared:
//   lane = 4 g + t (g = groupID 0..7, t = threadID_in_group 0..3)
//   A (16 x 8, row): a0 (g, t)  a1 (g + 8, t)  a2 (g, t + 4)  a3 (g + 8, t + 4)
//   B (8 x 8, col):  b0 (t, g)  b1 (t + 4, g)
//   C (16 x 8):      c0 (g, 2t) c1 (g, 2t + 1) c2 (g + 8, 2t) c3 (g + 8, 2t + 1)
// The same HMMA.1684.F32.TF32 instructions wmma's m16n16k8 tf32 issues.
// ----------------------------------------------------------------------------------------------

// Layout tags: how an operand sits in memory (row r, column c of the operand as the GEMM sees it).
struct RowMajor {}; // p[r * ld + c]
struct ColMajor {}; // p[r + c * ld]: the transpose of a row-major array, read in place

template <class L>
__device__ __forceinline__ int row_stride(int ld) {
  return std::is_same_v<L, RowMajor> ? ld : 1;
}
template <class L>
__device__ __forceinline__ int col_stride(int ld) {
  return std::is_same_v<L, RowMajor> ? 1 : ld;
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// volatile: keeps the front end from moving the load across __syncthreads; ptxas still schedules it
__device__ __forceinline__ uint32_t lds_b32(uint32_t addr) {
  uint32_t v;
  asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(v) : "r"(addr));
  return v;
}

// ldmatrix on 32-bit data: each 8 x 8 b16 matrix is 8 rows of 4 floats, and lane 4 g + t receives word
// t of row g, which is exactly the (g, t) element of an A (row-major) or B (column-major) tf32 fragment.
__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x2(uint32_t addr, uint32_t& r0, uint32_t& r1) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(addr));
}

// fp32 bits -> tf32 operand(s). The tensor core reads the top 19 bits of each 32-bit operand and ignores
// the low 13, so adding half a tf32 ulp (0x1000) to the magnitude bits rounds to nearest (ties away).
//   kSplit (3xTF32): hi = that rounding with the low bits masked, lo = x - hi (exact in fp32); lo is then
//     truncated by the tensor core (error <= 2^-10 |lo| <= 2^-21 |x|).
//   plain: x rounded to nearest tf32 (relative error <= 2^-11; values that came from bf16 / fp16 inputs
//     are exact). Plain truncation measured 3x larger state errors for no speed-up.
template <bool kSplit>
__device__ __forceinline__ void tf32_parts(uint32_t& x, uint32_t& lo) {
  if constexpr (kSplit) {
    const uint32_t hi = (x + 0x1000u) & 0xffffe000u;
    lo = __float_as_uint(__uint_as_float(x) - __uint_as_float(hi));
    x = hi;
  } else {
    x += 0x1000u;
  }
}

__device__ __forceinline__ void mma_tf32_16n8k8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// acc[m][n] (16 x 8 C fragment) += A[i0 + 16m : +16, k] B[k, j0 + 8n : +8] over k in [k_begin, k_end)
// (multiples of 8). A, B point to shared memory; rows of a RowMajor A and of a ColMajor B (the layouts
// ldmatrix serves) must be 16-byte aligned, which ld % 4 == 0 and 16-byte aligned bases give.
template <int FM, int FN, bool kSplit, class LA, class LB>
__device__ __forceinline__ void warp_mma(
    float (&acc)[FM][FN][4], const float* A, int lda, const float* B, int ldb, int i0, int j0, int k_begin, int k_end) {
  constexpr bool kLdsmA = std::is_same_v<LA, RowMajor>;
  constexpr bool kLdsmB = std::is_same_v<LB, ColMajor>;
  const int lane = threadIdx.x % kWarp;
  const int g = lane >> 2, t = lane & 3;
  const int ars = row_stride<LA>(lda), acs = col_stride<LA>(lda);
  const int brs = row_stride<LB>(ldb), bcs = col_stride<LB>(ldb);
  // Per-lane byte address at k = k_begin. ldmatrix: lane l points at the row its matrix (l / 8) needs;
  // plain loads: the lane's own a0 / b0 element.
  uint32_t pa, pb;
  if constexpr (kLdsmA) { // matrices: rows 0-7 | rows 8-15 at column k0, then the same at k0 + 4
    pa = smem_u32(A) +
         4u * static_cast<uint32_t>((i0 + (lane & 7) + 8 * ((lane >> 3) & 1)) * lda + k_begin + 4 * (lane >> 4));
  } else {
    pa = smem_u32(A) + 4u * static_cast<uint32_t>((i0 + g) * ars + (k_begin + t) * acs);
  }
  if constexpr (kLdsmB) { // matrices: n-block 0 at k0 | k0 + 4, then n-block 1 at k0 | k0 + 4
    pb = smem_u32(B) +
         4u * static_cast<uint32_t>((j0 + (lane & 7) + 8 * (lane >> 4)) * ldb + k_begin + 4 * ((lane >> 3) & 1));
  } else {
    pb = smem_u32(B) + 4u * static_cast<uint32_t>((k_begin + t) * brs + (j0 + g) * bcs);
  }
  const uint32_t a_r8 = 32u * ars, a_c4 = 16u * acs, a_m = 64u * ars, a_k = 32u * acs;
  const uint32_t b_r4 = 16u * brs, b_n = 32u * bcs, b_k = 32u * brs;
#pragma unroll 2
  for (int k0 = k_begin; k0 < k_end; k0 += 8) {
    uint32_t a[FM][4], al[FM][4], b[FN][2], bl[FN][2];
#pragma unroll
    for (int m = 0; m < FM; ++m) {
      const uint32_t p = pa + m * a_m;
      if constexpr (kLdsmA) {
        ldsm_x4(p, a[m][0], a[m][1], a[m][2], a[m][3]);
      } else {
        a[m][0] = lds_b32(p);
        a[m][1] = lds_b32(p + a_r8);
        a[m][2] = lds_b32(p + a_c4);
        a[m][3] = lds_b32(p + a_r8 + a_c4);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e)
        tf32_parts<kSplit>(a[m][e], al[m][e]);
    }
#pragma unroll
    for (int n = 0; n < FN; ++n) {
      if constexpr (kLdsmB) {
        if (n % 2 == 0) {
          const uint32_t p = pb + n * b_n;
          if (n + 1 < FN) {
            ldsm_x4(p, b[n][0], b[n][1], b[n + 1][0], b[n + 1][1]);
          } else {
            ldsm_x2(p, b[n][0], b[n][1]);
          }
        }
      } else {
        const uint32_t p = pb + n * b_n;
        b[n][0] = lds_b32(p);
        b[n][1] = lds_b32(p + b_r4);
      }
    }
#pragma unroll
    for (int n = 0; n < FN; ++n) {
      tf32_parts<kSplit>(b[n][0], bl[n][0]);
      tf32_parts<kSplit>(b[n][1], bl[n][1]);
    }
#pragma unroll
    for (int m = 0; m < FM; ++m) {
#pragma unroll
      for (int n = 0; n < FN; ++n) {
        if constexpr (kSplit) { // small terms first
          mma_tf32_16n8k8(acc[m][n], al[m], b[n]);
          mma_tf32_16n8k8(acc[m][n], a[m], bl[n]);
        }
        mma_tf32_16n8k8(acc[m][n], a[m], b[n]);
      }
    }
    pa += a_k;
    pb += b_k;
  }
}

// Stores out_scale times a warp's (16 FM) x (8 FN) accumulator tile at row i0, column j0 of C.
template <int FM, int FN>
__device__ __forceinline__ void store_acc(
    float* C, int ldc, const float (&acc)[FM][FN][4], int i0, int j0, float out_scale) {
  const int lane = threadIdx.x % kWarp;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int m = 0; m < FM; ++m) {
#pragma unroll
    for (int n = 0; n < FN; ++n) {
      float* p = C + (i0 + 16 * m + g) * ldc + j0 + 8 * n + 2 * t;
      *reinterpret_cast<float2*>(p) = make_float2(out_scale * acc[m][n][0], out_scale * acc[m][n][1]);
      *reinterpret_cast<float2*>(p + 8 * ldc) = make_float2(out_scale * acc[m][n][2], out_scale * acc[m][n][3]);
    }
  }
}

// Which entries of the A operand (as the GEMM sees it) can be nonzero; lets the k loop skip zero blocks.
enum class Tri { kNone, kLower /* A[i][k] = 0 for k > i */, kUpper /* A[i][k] = 0 for k < i */ };

// C = out_scale * (cin_scale * Cin + A B), with A: M x Kd and B: Kd x N in shared memory (layout tags
// above), C and Cin row-major fp32 in shared or global memory (Cin may be C itself, or null for zero).
// The output is cut into (16 FM) x (8 FN) warp tiles dealt round-robin to the warps; a warp reads its
// own Cin tile before writing its C tile. M % (16 FM) == 0, N % (8 FN) == 0, Kd % 8 == 0; ldc, ldcin
// even. In place on B (C == B) is safe only when FM covers all M rows: each warp tile then reads only
// the B columns it writes, and writes after its last read.
template <int FM, int FN, bool kSplit, class LA, class LB, Tri kTri = Tri::kNone>
__device__ __forceinline__ void block_gemm(
    float* C,
    int ldc,
    const float* A,
    int lda,
    const float* B,
    int ldb,
    int M,
    int N,
    int Kd,
    const float* Cin = nullptr,
    int ldcin = 0,
    float cin_scale = 1.f,
    float out_scale = 1.f) {
  const int warp = threadIdx.x / kWarp;
  const int nwarps = blockDim.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int g = lane >> 2, t = lane & 3;
  const int tn = N / (8 * FN);
  const int tiles = (M / (16 * FM)) * tn;
  for (int tile = warp; tile < tiles; tile += nwarps) {
    const int i0 = (tile / tn) * 16 * FM;
    const int j0 = (tile % tn) * 8 * FN;
    float acc[FM][FN][4];
#pragma unroll
    for (int m = 0; m < FM; ++m) {
#pragma unroll
      for (int n = 0; n < FN; ++n) {
        if (Cin != nullptr) {
          const float* p = Cin + (i0 + 16 * m + g) * ldcin + j0 + 8 * n + 2 * t;
          const float2 lo = *reinterpret_cast<const float2*>(p);
          const float2 hi = *reinterpret_cast<const float2*>(p + 8 * ldcin);
          acc[m][n][0] = cin_scale * lo.x;
          acc[m][n][1] = cin_scale * lo.y;
          acc[m][n][2] = cin_scale * hi.x;
          acc[m][n][3] = cin_scale * hi.y;
        } else {
          acc[m][n][0] = acc[m][n][1] = acc[m][n][2] = acc[m][n][3] = 0.f;
        }
      }
    }
    int k_begin = 0, k_end = Kd;
    if constexpr (kTri == Tri::kLower)
      k_end = min(Kd, i0 + 16 * FM);
    if constexpr (kTri == Tri::kUpper)
      k_begin = i0;
    warp_mma<FM, FN, kSplit, LA, LB>(acc, A, lda, B, ldb, i0, j0, k_begin, k_end);
    store_acc(C, ldc, acc, i0, j0, out_scale);
  }
}

// C = A B for the 64 x 64 lower triangular A and B: 64 x N (N % 16 == 0), all row-major in shared memory.
// Output tiles of 16 x 16; a warp takes row tiles r and 3 - r of one column tile, so that every warp runs
// the same five 16-deep k steps (block_gemm's row tiles would run 1 to 4).
template <bool kSplit>
__device__ __forceinline__ void block_gemm_lower64(
    float* C, int ldc, const float* A, int lda, const float* B, int ldb, int N) {
  const int warp = threadIdx.x / kWarp;
  const int nwarps = blockDim.x / kWarp;
  const int tn = N / 16;
  for (int job = warp; job < 2 * tn; job += nwarps) {
    const int j0 = (job % tn) * 16;
    const int r_low = job / tn; // 0 or 1
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int i0 = 16 * (half == 0 ? r_low : 3 - r_low);
      float acc[1][2][4] = {};
      warp_mma<1, 2, kSplit, RowMajor, RowMajor>(acc, A, lda, B, ldb, i0, j0, 0, i0 + 16);
      store_acc(C, ldc, acc, i0, j0, 1.f);
    }
  }
}

// block_gemm with the largest warp tile the shape allows (M, N multiples of 16): 32 x 32 when M and N are
// multiples of 32 (a third less shared-memory traffic than 16 x 32 tiles), else 32 x 16 or 16 x 32.
template <bool kSplit, class LA, class LB, Tri kTri = Tri::kNone>
__device__ __forceinline__ void block_gemm_wide(
    float* C,
    int ldc,
    const float* A,
    int lda,
    const float* B,
    int ldb,
    int M,
    int N,
    int Kd,
    const float* Cin = nullptr,
    int ldcin = 0,
    float cin_scale = 1.f,
    float out_scale = 1.f) {
  if (M % 32 == 0 && N % 32 == 0) {
    block_gemm<2, 4, kSplit, LA, LB, kTri>(C, ldc, A, lda, B, ldb, M, N, Kd, Cin, ldcin, cin_scale, out_scale);
  } else if (M % 32 == 0) {
    block_gemm<2, 2, kSplit, LA, LB, kTri>(C, ldc, A, lda, B, ldb, M, N, Kd, Cin, ldcin, cin_scale, out_scale);
  } else if (N % 32 == 0) {
    block_gemm<1, 4, kSplit, LA, LB, kTri>(C, ldc, A, lda, B, ldb, M, N, Kd, Cin, ldcin, cin_scale, out_scale);
  } else {
    block_gemm<1, 2, kSplit, LA, LB, kTri>(C, ldc, A, lda, B, ldb, M, N, Kd, Cin, ldcin, cin_scale, out_scale);
  }
}

// ----------------------------------------------------------------------------------------------
// Small reductions
// ----------------------------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Deterministic block sum (fixed order); scratch holds >= 32 floats. Returns the sum to every thread.
// Contains two __syncthreads: all threads must call it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  v = warp_sum(v);
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  float s = 0.f;
  const int nwarps = blockDim.x / kWarp;
  for (int w = 0; w < nwarps; ++w)
    s += scratch[w];
  __syncthreads();
  return s;
}

// ----------------------------------------------------------------------------------------------
// Per-chunk gate quantities (the one source of G for every kernel, so that forward, recompute and
// gradient kernels see bit-identical values)
// ----------------------------------------------------------------------------------------------

// Geometry of one chunk: chunks restart at every block boundary; the last chunk of a block is partial.
struct ChunkPos {
  int64_t t0; // first token of the chunk in the sequence
  int rows;   // valid rows c (1..64)
};
__device__ __forceinline__ ChunkPos chunk_pos(int64_t q, int64_t nc, int64_t block_len) {
  const int64_t blk = q / nc;
  const int64_t c = q - blk * nc;
  ChunkPos p;
  p.t0 = blk * block_len + c * kChunk;
  p.rows = static_cast<int>(min64(kChunk, block_len - c * kChunk));
  return p;
}

// Fills sG[0..64) with the in-chunk inclusive cumsum G_r = sum_{j<=r} g_j (rows >= rows get g = 0, so
// G_r = G_last there) and sBeta[0..64) with beta (0 on padding rows). g, beta point at token t0 of
// this (b, h); consecutive tokens are `stride` apart. Ends with __syncthreads.
__device__ __forceinline__ void load_chunk_gates(
    float* sG, float* sBeta, const float* g, const float* beta, int64_t stride, int rows) {
  if (threadIdx.x < kWarp) {
    const int lane = threadIdx.x;
    const int r0 = 2 * lane, r1 = 2 * lane + 1;
    const float g0 = r0 < rows ? g[r0 * stride] : 0.f;
    const float g1 = r1 < rows ? g[r1 * stride] : 0.f;
    const float pair = g0 + g1;
    float incl = pair; // inclusive scan of the pair sums over lanes
#pragma unroll
    for (int o = 1; o < kWarp; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o)
        incl += y;
    }
    float excl = __shfl_up_sync(0xffffffffu, incl, 1); // exact exclusive prefix (no incl - pair)
    if (lane == 0)
      excl = 0.f;
    sG[r0] = excl + g0;
    sG[r1] = excl + g0 + g1;
    sBeta[r0] = r0 < rows ? beta[r0 * stride] : 0.f;
    sBeta[r1] = r1 < rows ? beta[r1 * stride] : 0.f;
  }
  __syncthreads();
}

// ----------------------------------------------------------------------------------------------
// Kernels shared by the forward and the backward (defined in gdn_block_scan_fwd.cu)
// ----------------------------------------------------------------------------------------------

// Workspace arrays, per (b, h) = bh and chunk q (NCH = NB * NC chunks per bh, NC = ceil(L / 64) per block),
// each chunk padded to 64 rows (padding rows are exact zeros). Prep writes one of two forms of (9):
//   WY form (the backward, the forward's sequential schedule): W [BH][NCH][64][K], U [BH][NCH][64][V],
//     Kd [BH][NCH][64][K], and with A non-null also A [BH][NCH][64][64];
//   A form (the forward's parallel schedule): A and the row scales rs [BH][NCH][64][4] = (beta_r gamma_r,
//     exp(G_last - G_r), beta_r, 0), from which the chain applies (9) on the fly;
// and in both gam [BH][NCH] = gamma_c = exp(G_last).
struct PrepArgs {
  const void* k = nullptr; // [B,T,H,K] of the input dtype
  const void* v = nullptr; // [B,T,H,V] (WY form only)
  const float* g = nullptr;
  const float* beta = nullptr;
  int64_t T = 0, H = 0, L = 0, NC = 0, NCH = 0;
  int K = 0, V = 0;
  float* W = nullptr; // non-null: WY form
  float* U = nullptr;
  float* Kd = nullptr;
  float* gam = nullptr;
  float* A = nullptr;  // WY form: may be null (forward)
  float* rs = nullptr; // A form
};

// The backward's recompute chain in the WY form: every block from its state, V columns only, keeping
// h_in and V_new of every chunk.
struct ChainArgs {
  const float* W = nullptr;
  const float* U = nullptr;
  const float* Kd = nullptr;
  const float* gam = nullptr;
  const float* h0 = nullptr; // [B,NB,H,K,V] start of each block (the forward's states)
  float* hin = nullptr;      // out [BH][NCH][K][V]: h_in of every chunk
  float* vnew = nullptr;     // out [BH][NCH][64][V]: V_new of every chunk
  int64_t H = 0, NB = 0, NC = 0, NCH = 0;
  int K = 0, V = 0;
};

// The forward's parallel chain in the A form: every block cut into S segments of SC chunks, every segment
// from its start (segment 0 from the initial state, the others from zero), giving H_s and, with more
// than one segment, M_s (12) of segments 1...
struct ChainAArgs {
  const void* k = nullptr; // [B,T,H,K] of the input dtype
  const void* v = nullptr; // [B,T,H,V]
  const float* A = nullptr;
  const float* rs = nullptr;
  const float* gam = nullptr;
  const float* init = nullptr; // [B,H,K,V] start of block 0, or null for zeros
  float* hb = nullptr;         // out [BH][NB S][K][V]: H_s, the state after the segment from its start
  float* mseg = nullptr;       // out [BH][NB S][K][K]: M_s of segments 1.., or null (one segment)
  int64_t T = 0, H = 0, L = 0, NB = 0, NC = 0, NCH = 0, S = 1, SC = 0;
  int K = 0, V = 0;
};

// The forward's other chain schedule: sequential over all blocks of one bh from the initial state (10),
// (11), writing the state before every block and the final state; no M_b, no combine.
struct SeqChainArgs {
  const float* W = nullptr;
  const float* U = nullptr;
  const float* Kd = nullptr;
  const float* gam = nullptr;
  const float* init = nullptr;  // [B,H,K,V], or null for zeros
  float* states = nullptr;      // out [B,NB,H,K,V]
  float* final_state = nullptr; // out [B,H,K,V]
  int64_t H = 0, NB = 0, NC = 0, NCH = 0;
  int K = 0, V = 0;
};

// The WY-form chunk buffers (workspace, fp32).
struct ChunkBuffers {
  float* W = nullptr;
  float* U = nullptr;
  float* Kd = nullptr;
  float* gam = nullptr;
};

// The A-form chunk buffers (workspace, fp32).
struct ChunkFactors {
  float* A = nullptr;
  float* rs = nullptr;
  float* gam = nullptr;
};

inline int64_t chunks_per_block(const GdnShape& s) {
  return (s.block_len + kChunk - 1) / kChunk;
}

inline size_t chunk_count(const GdnShape& s) {
  return static_cast<size_t>(s.batch * s.heads * s.num_blocks() * chunks_per_block(s));
}

inline ChunkBuffers carve_chunk_buffers(WorkspaceCarver& c, const GdnShape& s) {
  const size_t n = chunk_count(s), K = static_cast<size_t>(s.dim_k), V = static_cast<size_t>(s.dim_v);
  ChunkBuffers b;
  b.W = c.take<float>(n * kChunk * K);
  b.U = c.take<float>(n * kChunk * V);
  b.Kd = c.take<float>(n * kChunk * K);
  b.gam = c.take<float>(n);
  return b;
}

// The forward's workspace. The sequential schedule uses seq, the parallel one par, hb and mseg (sized for
// kMaxSegments per block). A forward carves the view of its schedule; FwdViews::kBoth carves both over the
// same bytes (the workbench runs both schedules in turn), and the workspace is then the larger of the two.
struct FwdWorkspace {
  ChunkBuffers seq;
  ChunkFactors par;
  float* hb = nullptr;   // [BH][NSEG][K][V]
  float* mseg = nullptr; // [BH][NSEG][K][K]
};
enum class FwdViews { kSequential, kParallel, kBoth };

inline FwdWorkspace carve_fwd_workspace(void* base, const GdnShape& s, FwdViews views, size_t* bytes) {
  FwdWorkspace w;
  WorkspaceCarver seq(base), par(base);
  if (views != FwdViews::kParallel)
    w.seq = carve_chunk_buffers(seq, s);
  if (views != FwdViews::kSequential) {
    const size_t n = chunk_count(s);
    w.par.A = par.take<float>(n * kChunk * kChunk);
    w.par.rs = par.take<float>(n * kChunk * 4);
    w.par.gam = par.take<float>(n);
    const size_t nseg = static_cast<size_t>(s.batch * s.heads * s.num_blocks() * kMaxSegments);
    w.hb = par.take<float>(nseg * s.dim_k * s.dim_v);
    w.mseg = par.take<float>(nseg * s.dim_k * s.dim_k);
  }
  if (bytes != nullptr)
    *bytes = std::max(seq.bytes(), par.bytes());
  return w;
}

// The backward's workspace: the chunk buffers, then what only the backward keeps.
struct BwdWorkspace {
  ChunkBuffers chunks;
  float* A;     // [BH][NCH][64][64]
  float* hin;   // [BH][NCH][K][V]: h_in of every chunk
  float* vnew;  // [BH][NCH][64][V]: V_new of every chunk
  float* E;     // [BH][NB][K][V]: gradient w.r.t. the state at the end of block b
  float* dhout; // [BH][NCH][K][V]: dh_out of every chunk
};

inline BwdWorkspace carve_bwd_workspace(void* base, const GdnShape& s, size_t* bytes) {
  const size_t n = chunk_count(s);
  const size_t nb = static_cast<size_t>(s.batch * s.heads * s.num_blocks());
  const size_t K = static_cast<size_t>(s.dim_k), V = static_cast<size_t>(s.dim_v);
  WorkspaceCarver c(base);
  BwdWorkspace w;
  w.chunks = carve_chunk_buffers(c, s);
  w.A = c.take<float>(n * kChunk * kChunk);
  w.hin = c.take<float>(n * K * V);
  w.vnew = c.take<float>(n * kChunk * V);
  w.E = c.take<float>(nb * K * V);
  w.dhout = c.take<float>(n * K * V);
  if (bytes != nullptr)
    *bytes = c.bytes();
  return w;
}

inline PrepArgs prep_args_common(const GdnShape& s, const void* k, const void* g, const void* beta) {
  PrepArgs a;
  a.k = k;
  a.g = static_cast<const float*>(g);
  a.beta = static_cast<const float*>(beta);
  a.T = s.seqlen;
  a.H = s.heads;
  a.L = s.block_len;
  a.NC = chunks_per_block(s);
  a.NCH = s.num_blocks() * a.NC;
  a.K = static_cast<int>(s.dim_k);
  a.V = static_cast<int>(s.dim_v);
  return a;
}

// Prep in the WY form (A too when A is non-null).
inline PrepArgs prep_args(
    const GdnShape& s, const void* k, const void* v, const void* g, const void* beta, const ChunkBuffers& b, float* A) {
  PrepArgs a = prep_args_common(s, k, g, beta);
  a.v = v;
  a.W = b.W;
  a.U = b.U;
  a.Kd = b.Kd;
  a.gam = b.gam;
  a.A = A;
  return a;
}

// Prep in the A form.
inline PrepArgs prep_factor_args(
    const GdnShape& s, const void* k, const void* g, const void* beta, const ChunkFactors& f) {
  PrepArgs a = prep_args_common(s, k, g, beta);
  a.A = f.A;
  a.rs = f.rs;
  a.gam = f.gam;
  return a;
}

// The chunk geometry every chain's arguments carry.
template <typename Args>
void set_chain_shape(Args& a, const GdnShape& s) {
  a.H = s.heads;
  a.NB = s.num_blocks();
  a.NC = chunks_per_block(s);
  a.NCH = a.NB * a.NC;
  a.K = static_cast<int>(s.dim_k);
  a.V = static_cast<int>(s.dim_v);
}

inline SeqChainArgs seq_chain_args(
    const GdnShape& s, const ChunkBuffers& b, const float* init, float* states, float* final_state) {
  SeqChainArgs a;
  a.W = b.W;
  a.U = b.U;
  a.Kd = b.Kd;
  a.gam = b.gam;
  a.init = init;
  a.states = states;
  a.final_state = final_state;
  set_chain_shape(a, s);
  return a;
}

// The forward's parallel chain over `segments` segments per block: segment 0 from init, the others from
// zero, giving H_s and (segments 1..) M_s.
inline ChainAArgs chain_fwd_args(
    const GdnShape& s, const void* k, const void* v, const FwdWorkspace& w, const float* init, int segments) {
  ChainAArgs a;
  a.k = k;
  a.v = v;
  a.A = w.par.A;
  a.rs = w.par.rs;
  a.gam = w.par.gam;
  a.init = init;
  a.hb = w.hb;
  a.T = s.seqlen;
  a.L = s.block_len;
  set_chain_shape(a, s);
  a.S = segments;
  a.SC = (a.NC + segments - 1) / segments;
  a.mseg = a.NB * segments > 1 ? w.mseg : nullptr;
  return a;
}

// The backward's recompute: every block from its state, keeping h_in and V_new of every chunk.
inline ChainArgs chain_bwd_args(const GdnShape& s, const BwdWorkspace& w, const float* states) {
  ChainArgs a;
  a.W = w.chunks.W;
  a.U = w.chunks.U;
  a.Kd = w.chunks.Kd;
  a.gam = w.chunks.gam;
  a.h0 = states;
  a.hin = w.hin;
  a.vnew = w.vnew;
  set_chain_shape(a, s);
  return a;
}

// Chunk prep, parallel over (chunk, bh): G cumsum, A = (I + L)^-1 (8), and either the WY form, W, U (9),
// Kd (11), or the A form's row scales; gamma_c.
void launch_chunk_prep(const PrepArgs& a, DType dtype, int64_t bh, cudaStream_t stream);
// The forward's parallel chain (A form), every segment at once (10), (11): its V columns from its start,
// and (with a.mseg) for segments 1.. also K identity columns, which end as M_s (12). chain_segments picks
// the segments per block (1 .. kMaxSegments) that fill sms SMs best.
int chain_segments(const GdnShape& s, int sms);
void launch_chunk_chain_a(const ChainAArgs& a, DType dtype, int64_t bh, cudaStream_t stream);
// The backward's recompute chain (WY form), every block at once from its state (10), (11).
void launch_chunk_chain(const ChainArgs& a, bool split, int64_t bh, cudaStream_t stream);

// The other stages, one launch each. The public launchers are these calls in order; they are separate so
// that the workbench (scripts/bench/gdn_kernels.cu) can time each stage on its own.

// The forward's sequential schedule: whether it beats chain + combine for this shape on sms SMs, and its
// one launch, one CTA per (16 columns of V, bh) (gdn_block_scan_fwd.cu).
bool use_seq_chain(const GdnShape& s, int sms);
void launch_chain_seq(const SeqChainArgs& a, bool split, int64_t bh, cudaStream_t stream);
// Forward combine (12), sequential over the segments in w: states[0] = init (null: zeros), after segment 0
// H_0, after segment s M_s state + H_s; states[b] before segment b S, final_state the last; then the op's
// transitions (blocks 1..) as products of their segments' M_s (gdn_block_scan_fwd.cu).
void launch_combine_fwd(
    const GdnShape& s,
    const FwdWorkspace& w,
    int segments,
    const float* init,
    float* states,
    float* final_state,
    float* trans,
    cudaStream_t stream);
// Backward combine: E_b (the gradient w.r.t. the state after block b) from d_states, d_final (null:
// zeros) and the M_b of blocks 1.. (gdn_block_scan_bwd.cu, as are the two below).
void launch_combine_bwd(
    const GdnShape& s, const float* trans, const float* d_states, const float* d_final, float* E, cudaStream_t stream);
// Reverse chain (14) of every block in parallel from w.E: w.dhout; block 0's CTAs end with d_init =
// d_states[0] + M_0^T E_0.
void launch_chain_bwd(
    const GdnShape& s, const BwdWorkspace& w, const float* d_states, float* d_init, bool split, cudaStream_t stream);
// Per-chunk gradients (13), (15)-(24) from the backward workspace: p.dk, p.dv, p.dg, p.dbeta.
void launch_chunk_grad(const GdnScanBwdParams& p, const BwdWorkspace& w, cudaStream_t stream);

} // namespace arl2::kernels::gdn_detail
