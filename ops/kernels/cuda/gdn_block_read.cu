// arl2::gdn_block_read on CUDA: every token of block i reads the state before the block,
//   (4)  o_t = scale * states[i]^T q_t                      (states[i] is K x V, fla's h = S^T)
// and its backward
//   dq_t = scale * states[i] do_t,   d_states[i] = scale * sum_{t in block i} q_t do_t^T.
// Both are plain GEMMs on tensor cores (tf32, 3xTF32 for float32 inputs) over fp32 shared tiles.
#include "../common/check.h"
#include "gdn_chunk_common.cuh"
#include "gdn_cuda.h"

namespace arl2::kernels {
namespace {

using namespace gdn_detail;

constexpr int kRdThreads = 256;    // 8 warps; the d_states kernel's fragment map assumes exactly 8
constexpr int kRdTile = 64;        // output columns per CTA, tokens per sub-tile
constexpr int kRdSubTiles = 4;     // token sub-tiles per CTA: one state-tile load serves 256 tokens
constexpr int kRdLd = kRdTile + 4; // 64-wide fp32 tiles read by ldmatrix: ld = 4 (mod 8)
constexpr int kDsLd = kRdTile + 8; // d_states tiles, read by scalar fragment loads: ld = 8 (mod 32)

struct ReadOutArgs {
  const void* x;       // q [B,T,H,K] (forward) or d_o [B,T,H,V] (backward)
  const float* states; // [B,NB,H,K,V]
  void* out;           // o [B,T,H,V] (forward) or dq [B,T,H,K] (backward)
  int64_t T, H, L, NB;
  int K, V;
  int D; // reduction length: K forward, V backward
  int N; // output row length: V forward, K backward
  int col_tiles, token_groups;
  float scale;
};

// One CTA: output columns [c0, c0 + 64) of up to kRdSubTiles 64-token sub-tiles of one block of one (b, h).
//   forward  (4): o[t][j]  = scale * sum_k q[t][k] S[k][j]   -> B(k, j) = S[k][c0 + j]      (row-major tile)
//   backward    : dq[t][k] = scale * sum_v do[t][v] S[k][v]  -> B(v, j) = S[c0 + j][v]      (S rows, read transposed)
template <typename T, bool kSplit, bool kBackward>
__global__ void __launch_bounds__(kRdThreads) gdn_read_out_kernel(ReadOutArgs a) {
  extern __shared__ __align__(128) float smem_rd[];
  const int bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  int64_t x = blockIdx.x;
  const int ct = static_cast<int>(x % a.col_tiles);
  x /= a.col_tiles;
  const int tg = static_cast<int>(x % a.token_groups);
  const int64_t blk = x / a.token_groups;
  const int c0 = ct * kRdTile;
  const int ncols_valid = min(kRdTile, a.N - c0);

  const int ldb = kBackward ? a.V + 4 : kRdLd;
  const int ldx = a.D + 4;
  float* sB = smem_rd;                                              // forward [K][kRdLd], backward [64][V + 4]
  float* sX = sB + (kBackward ? kRdTile * (a.V + 4) : a.K * kRdLd); // [64][D + 4]
  float* sO = sX + kRdTile * ldx;                                   // [64][kRdLd]

  const float* S = a.states + ((b * a.NB + blk) * a.H + h) * a.K * a.V;
  if constexpr (kBackward) {
    // rows c0 .. c0+63 of S (rows >= K are dead: zero), all V columns
    copy_tile_f32(sB, ldb, S + static_cast<int64_t>(c0) * a.V, a.V, kRdTile, ncols_valid, a.V, a.V);
  } else {
    // all K rows of S, columns c0 .. c0+63 (columns >= V are dead: zero)
    copy_tile_f32(sB, ldb, S + c0, a.V, a.K, a.K, kRdTile, ncols_valid);
  }

  const T* X = static_cast<const T*>(a.x);
  T* O = static_cast<T*>(a.out);
  const int64_t ntiles = (a.L + kRdTile - 1) / kRdTile;
  const int64_t s_end = min64(ntiles, static_cast<int64_t>(tg + 1) * kRdSubTiles);
  for (int64_t s = static_cast<int64_t>(tg) * kRdSubTiles; s < s_end; ++s) {
    const int rows = static_cast<int>(min64(kRdTile, a.L - s * kRdTile));
    const int64_t t0 = blk * a.L + s * kRdTile;
    const int64_t row0 = (b * a.T + t0) * a.H + h; // token row index of t0 in [B, T, H]
    // sX is free: the previous GEMM finished reading it before the __syncthreads that preceded its store.
    load_tile_f32<T>(sX, ldx, X + row0 * a.D, a.H * a.D, rows, kRdTile, a.D, a.D);
    __syncthreads();
    if constexpr (kBackward) {
      block_gemm<1, 4, kSplit, RowMajor, ColMajor>(
          sO, kRdLd, sX, ldx, sB, ldb, kRdTile, kRdTile, a.D, nullptr, 0, 1.f, a.scale);
    } else {
      block_gemm<1, 4, kSplit, RowMajor, RowMajor>(
          sO, kRdLd, sX, ldx, sB, ldb, kRdTile, kRdTile, a.D, nullptr, 0, 1.f, a.scale);
    }
    __syncthreads();
    store_tile<T>(O + row0 * a.N + c0, a.H * a.N, sO, kRdLd, rows, ncols_valid, 1.f);
  }
}

struct ReadDStatesArgs {
  const void* q;   // [B,T,H,K]
  const void* d_o; // [B,T,H,V]
  float* d_states; // [B,NB,H,K,V]
  int64_t T, H, L, NB;
  int K, V;
  int k_tiles, v_tiles;
  float scale;
};

// Register staging of one 64 x 64 token tile (16 elements per thread at 256 threads): the next tile's
// global loads are in flight while the tensor cores work on the current one.
template <typename T>
struct StageTile {
  static constexpr int VE = kVec<T>;
  static constexpr int kVecs = kRdTile * kRdTile / kRdThreads / VE; // vectors per thread
  float v[kVecs][VE];

  __device__ __forceinline__ void load(const T* src, int64_t stride, int rows, int cols_valid) {
#pragma unroll
    for (int u = 0; u < kVecs; ++u) {
      const int idx = threadIdx.x + u * kRdThreads;
      const int r = idx / (kRdTile / VE);
      const int c = (idx % (kRdTile / VE)) * VE;
      if (r < rows && c < cols_valid) {
        kernels::load<T, kVec<T>>(src + r * stride + c, v[u]);
      } else {
#pragma unroll
        for (int i = 0; i < VE; ++i)
          v[u][i] = 0.f;
      }
    }
  }
  __device__ __forceinline__ void store(float* dst) const {
#pragma unroll
    for (int u = 0; u < kVecs; ++u) {
      const int idx = threadIdx.x + u * kRdThreads;
      const int r = idx / (kRdTile / VE);
      const int c = (idx % (kRdTile / VE)) * VE;
      st_f32(dst + r * kDsLd + c, v[u]);
    }
  }
};

// One CTA owns the 64 x 64 tile [k0, k0+64) x [v0, v0+64) of d_states[b, blk, h] and reduces over all
// tokens of the block in token order: d_states[i] = scale * Q_i^T dO_i. No atomics, deterministic.
template <typename T, bool kSplit>
__global__ void __launch_bounds__(kRdThreads) gdn_read_dstates_kernel(ReadDStatesArgs a) {
  extern __shared__ __align__(128) float smem_rds[];
  const int bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  int64_t x = blockIdx.x;
  const int iv = static_cast<int>(x % a.v_tiles);
  x /= a.v_tiles;
  const int ik = static_cast<int>(x % a.k_tiles);
  const int64_t blk = x / a.k_tiles;
  const int k0 = ik * kRdTile, v0 = iv * kRdTile;
  const int nk = min(kRdTile, a.K - k0), nv = min(kRdTile, a.V - v0);

  // double-buffered staging: sQ(i) = [tokens][k], sD(i) = [tokens][v] (computed, not a pointer array: a
  // run-time index into a local array would put it on the stack)
  auto sQ = [&](int i) { return smem_rds + i * kRdTile * kDsLd; };
  auto sD = [&](int i) { return smem_rds + (2 + i) * kRdTile * kDsLd; };

  const T* Q = static_cast<const T*>(a.q);
  const T* DO = static_cast<const T*>(a.d_o);
  const int64_t ntiles = (a.L + kRdTile - 1) / kRdTile;
  auto tile_rows = [&](int64_t s) { return static_cast<int>(min64(kRdTile, a.L - s * kRdTile)); };
  auto tile_row0 = [&](int64_t s) { return (b * a.T + blk * a.L + s * kRdTile) * a.H + h; };

  StageTile<T> stq, std_;
  stq.load(Q + tile_row0(0) * a.K + k0, a.H * a.K, tile_rows(0), nk);
  std_.load(DO + tile_row0(0) * a.V + v0, a.H * a.V, tile_rows(0), nv);
  stq.store(sQ(0));
  std_.store(sD(0));
  __syncthreads();

  // Warp w owns output rows [16 (w / 2), +16) and columns [32 (w % 2), +32) of the 64 x 64 tile.
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int i0 = (warp / 2) * 16, j0 = (warp % 2) * 32;
  float acc[1][4][4] = {};
  for (int64_t s = 0; s < ntiles; ++s) {
    const int cur = static_cast<int>(s & 1);
    const bool more = s + 1 < ntiles;
    if (more) {
      stq.load(Q + tile_row0(s + 1) * a.K + k0, a.H * a.K, tile_rows(s + 1), nk);
      std_.load(DO + tile_row0(s + 1) * a.V + v0, a.H * a.V, tile_rows(s + 1), nv);
    }
    // acc += Q^T dO over this tile's 64 tokens (padding tokens are zero rows in both); Q^T is the
    // column-major view of the [tokens][k] tile
    warp_mma<1, 4, kSplit, ColMajor, RowMajor>(acc, sQ(cur), kDsLd, sD(cur), kDsLd, i0, j0, 0, kRdTile);
    if (more) {
      // buffer cur ^ 1 was last read in iteration s - 1, before the __syncthreads that ended it
      stq.store(sQ(cur ^ 1));
      std_.store(sD(cur ^ 1));
    }
    __syncthreads();
  }
  float* sOut = sQ(0); // every read of the staging buffers ended with the loop's last __syncthreads
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int n = 0; n < 4; ++n) { // C fragment: c0, c1 at (g, 2t), (g, 2t + 1); c2, c3 eight rows below
    float* p = sOut + (i0 + g) * kDsLd + j0 + 8 * n + 2 * t;
    p[0] = a.scale * acc[0][n][0];
    p[1] = a.scale * acc[0][n][1];
    p[8 * kDsLd] = a.scale * acc[0][n][2];
    p[8 * kDsLd + 1] = a.scale * acc[0][n][3];
  }
  __syncthreads();
  float* dst = a.d_states + ((b * a.NB + blk) * a.H + h) * a.K * a.V + static_cast<int64_t>(k0) * a.V + v0;
  store_tile_f32(dst, a.V, sOut, kDsLd, nk, nv);
}

} // namespace

void gdn_block_read_fwd_cuda(const GdnReadFwdParams& p, cudaStream_t stream) {
  const char* op = "gdn_block_read (CUDA)";
  const GdnShape& s = p.shape;
  check_shape(s, op);
  if (s.batch * s.heads == 0 || s.seqlen == 0)
    return;
  check_tensor_ptr(p.q, "q", op);
  check_tensor_ptr(p.states, "states", op);
  check_tensor_ptr(p.o, "o", op);

  ReadOutArgs a;
  a.x = p.q;
  a.states = static_cast<const float*>(p.states);
  a.out = p.o;
  a.T = s.seqlen;
  a.H = s.heads;
  a.L = s.block_len;
  a.NB = s.num_blocks();
  a.K = static_cast<int>(s.dim_k);
  a.V = static_cast<int>(s.dim_v);
  a.D = a.K;
  a.N = a.V;
  a.col_tiles = (a.N + kRdTile - 1) / kRdTile;
  const int64_t ntiles = (a.L + kRdTile - 1) / kRdTile;
  a.token_groups = static_cast<int>((ntiles + kRdSubTiles - 1) / kRdSubTiles);
  a.scale = p.scale;
  const int64_t gx = a.NB * a.token_groups * a.col_tiles;
  ARL2_CHECK(gx < (int64_t{1} << 31), op, ": problem too large for one grid");
  const size_t smem = sizeof(float) * (static_cast<size_t>(a.K) * kRdLd + kRdTile * (a.D + 4) + kRdTile * kRdLd);
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(s.batch * s.heads));

  dispatch_dtype(p.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    auto kernel = gdn_read_out_kernel<T, std::is_same_v<T, float>, false>;
    set_smem_limit(kernel, smem, "gdn_read_out_kernel<fwd>");
    kernel<<<grid, kRdThreads, smem, stream>>>(a);
    check_launch("gdn_read_out_kernel<fwd>");
  });
}

void gdn_block_read_bwd_cuda(const GdnReadBwdParams& p, cudaStream_t stream) {
  const char* op = "_gdn_block_read_backward (CUDA)";
  const GdnShape& s = p.shape;
  check_shape(s, op);
  if (s.batch * s.heads == 0 || s.seqlen == 0)
    return;
  check_tensor_ptr(p.q, "q", op);
  check_tensor_ptr(p.states, "states", op);
  check_tensor_ptr(p.d_o, "d_o", op);
  check_tensor_ptr(p.dq, "dq", op);
  check_tensor_ptr(p.d_states, "d_states", op);

  const int K = static_cast<int>(s.dim_k), V = static_cast<int>(s.dim_v);
  const dim3 block(kRdThreads);
  const unsigned bh = static_cast<unsigned>(s.batch * s.heads);

  // dq = scale * states[i] do
  ReadOutArgs a;
  a.x = p.d_o;
  a.states = static_cast<const float*>(p.states);
  a.out = p.dq;
  a.T = s.seqlen;
  a.H = s.heads;
  a.L = s.block_len;
  a.NB = s.num_blocks();
  a.K = K;
  a.V = V;
  a.D = V;
  a.N = K;
  a.col_tiles = (a.N + kRdTile - 1) / kRdTile;
  const int64_t ntiles = (a.L + kRdTile - 1) / kRdTile;
  a.token_groups = static_cast<int>((ntiles + kRdSubTiles - 1) / kRdSubTiles);
  a.scale = p.scale;
  const int64_t gx = a.NB * a.token_groups * a.col_tiles;
  ARL2_CHECK(gx < (int64_t{1} << 31), op, ": problem too large for one grid");
  const size_t smem_dq =
      sizeof(float) * (static_cast<size_t>(kRdTile) * (V + 4) + kRdTile * (a.D + 4) + kRdTile * kRdLd);

  // d_states = scale * sum_t q_t do_t^T
  ReadDStatesArgs d;
  d.q = p.q;
  d.d_o = p.d_o;
  d.d_states = static_cast<float*>(p.d_states);
  d.T = s.seqlen;
  d.H = s.heads;
  d.L = s.block_len;
  d.NB = s.num_blocks();
  d.K = K;
  d.V = V;
  d.k_tiles = (K + kRdTile - 1) / kRdTile;
  d.v_tiles = (V + kRdTile - 1) / kRdTile;
  d.scale = p.scale;
  const int64_t gxd = d.NB * d.k_tiles * d.v_tiles;
  ARL2_CHECK(gxd < (int64_t{1} << 31), op, ": problem too large for one grid");
  const size_t smem_ds = sizeof(float) * 4 * kRdTile * kDsLd;

  dispatch_dtype(p.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool kSplit = std::is_same_v<T, float>;
    auto k_dq = gdn_read_out_kernel<T, kSplit, true>;
    set_smem_limit(k_dq, smem_dq, "gdn_read_out_kernel<bwd>");
    k_dq<<<dim3(static_cast<unsigned>(gx), bh), block, smem_dq, stream>>>(a);
    check_launch("gdn_read_out_kernel<bwd>");

    auto k_ds = gdn_read_dstates_kernel<T, kSplit>;
    set_smem_limit(k_ds, smem_ds, "gdn_read_dstates_kernel");
    k_ds<<<dim3(static_cast<unsigned>(gxd), bh), block, smem_ds, stream>>>(d);
    check_launch("gdn_read_dstates_kernel");
  });
}

} // namespace arl2::kernels
