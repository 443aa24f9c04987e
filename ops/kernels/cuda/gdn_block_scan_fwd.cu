// arl2::gdn_block_scan forward on CUDA: the chunked WY/UT algorithm of ops/specs/gdn_block_scan.md,
// equations (8)-(12), in three launches (or (a) and (b') when that is faster, see use_seq_chain):
//   (a) gdn_chunk_prep_kernel   grid (chunk, bh): G cumsum, A = (I + L)^-1, W, U, Kd, gamma_c   (8), (9)
//   (b) gdn_chunk_chain_kernel  grid (column tile x block, bh): every block's chunk chain in parallel over
//       its V columns (block 0 from the initial state, the others from zero) and, for blocks 1.., K
//       identity columns with U = 0, giving H_b and the transitions M_b                         (10)-(12)
//   (c) gdn_combine_fwd_kernel  grid (V column tile, bh): states[b + 1] = M_b states[b] + H_b       (12)
//   (b') gdn_chain_seq_kernel  grid (16 columns of V, bh): one chain through every block in order from the
//       initial state, writing states[b] and final_state                                     (10), (11)
// (a) and (b) are also launched by the backward (gdn_block_scan_bwd.cu) to recompute.
#include "../common/check.h"
#include "gdn_chunk_common.cuh"
#include "gdn_cuda.h"

namespace arl2::kernels {

namespace gdn_detail {
namespace {

constexpr int kPrepThreads = 256; // 512 measured 30% slower
constexpr int kChainThreads = ARL2_GDN_CHAIN_THREADS;
constexpr int kChainFn = kChainThreads >= 512 ? 2 : 4; // (10): 64 x 64 output in 16 x (8 kChainFn) warp tiles
constexpr int kChainCols = 64;                         // columns of the augmented state [V | K] per chain CTA
constexpr int kCombThreads = 256;
constexpr int kCombCols = 32;    // columns of V per combine CTA
constexpr int kSeqThreads = 256; // (10): 8 warp tiles of 16 x 8, (11): 8 of 16 x 16
constexpr int kSeqCols = 16;     // columns of V per CTA of the sequential chain (32 measured 1.5x slower)
constexpr int kInvLd = 52;       // leading dimension of the 16 x 48 scratch of the block inverse

// One block row BI (1..3) of the block forward substitution below: A[16 BI + r][c] for c < n = 16 BI.
// Trip counts are compile-time (entries outside the triangles are exact zeros, so summing over them
// changes nothing) and four partial sums keep the shared loads independent: per-thread run-time
// bounds made these dots serial chains of shared loads (35% of the prep kernel).
template <int BI>
__device__ __forceinline__ void gdn_invert_block_row(const float* sL, float* sA, float* sTmp) {
  constexpr int ld = kLdChunk;
  constexpr int n = 16 * BI;
  // Tmp[r][c] = sum_{k<n} L[n + r][k] A[k][c]   (A[k][c] = 0 for k < c)
  for (int idx = threadIdx.x; idx < 16 * n; idx += blockDim.x) {
    const int r = idx / n, c = idx % n;
    const float* Lr = sL + (n + r) * ld;
    float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int k = 0; k < n; ++k)
      s[k % 4] = fmaf(Lr[k], sA[k * ld + c], s[k % 4]);
    sTmp[r * kInvLd + c] = (s[0] + s[1]) + (s[2] + s[3]);
  }
  __syncthreads();
  // A[n + r][c] = -sum_{k<16} A_ii[r][k] Tmp[k][c]   (A_ii[r][k] = 0 for k > r)
  for (int idx = threadIdx.x; idx < 16 * n; idx += blockDim.x) {
    const int r = idx / n, c = idx % n;
    const float* Ar = sA + (n + r) * ld + n;
    float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int k = 0; k < 16; ++k)
      s[k % 4] = fmaf(Ar[k], sTmp[k * kInvLd + c], s[k % 4]);
    sA[(n + r) * ld + c] = -((s[0] + s[1]) + (s[2] + s[3]));
  }
  __syncthreads();
}

// A = (I + L)^-1 for the 64 x 64 strictly lower triangular L in sL (ld kLdChunk), into sA (ld kLdChunk),
// by block forward substitution over 16 x 16 blocks (fp32 SIMT; every product below is exact algebra of
// (I + L) A = I restricted to block row i):
//   A_ii = (I + L_ii)^-1                              unit lower triangular: one lane per column m solves
//                                                      x_m = 1, x_r = -sum_{j<r} L_rj x_j (x_j = 0 for j < m)
//   A_ij = -A_ii sum_{k=j}^{i-1} L_ik A_kj,  i > j     all j < i at once: Tmp = L[i rows, :16i] A[:16i, :16i]
// Padding rows/columns of a partial chunk have L = 0 there, so A is the identity on them.
// Starts reading sL without a barrier (the caller synced after writing it); ends with __syncthreads.
__device__ __forceinline__ void gdn_invert_unit_lower64(const float* sL, float* sA, float* sTmp) {
  constexpr int ld = kLdChunk;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  // blocks above the diagonal are zero
  for (int idx = threadIdx.x; idx < kChunk * kChunk; idx += blockDim.x) {
    const int i = idx / kChunk, j = idx % kChunk;
    if (j / 16 > i / 16)
      sA[i * ld + j] = 0.f;
  }
  // diagonal blocks: warps 0..3 take block d = warp, lanes 0..15 take column m
  if (warp < 4 && lane < 16) {
    const int d = warp, m = lane;
    const float* Ld = sL + 16 * d * ld + 16 * d;
    float x[16];
#pragma unroll
    for (int i = 0; i < 16; ++i)
      x[i] = i == m ? 1.f : 0.f;
#pragma unroll
    for (int i = 1; i < 16; ++i) {
      float s = 0.f;
#pragma unroll
      for (int j = 0; j < i; ++j)
        s = fmaf(Ld[i * ld + j], x[j], s);
      if (i > m)
        x[i] = -s;
    }
#pragma unroll
    for (int i = 0; i < 16; ++i)
      sA[(16 * d + i) * ld + 16 * d + m] = x[i];
  }
  __syncthreads();
  gdn_invert_block_row<1>(sL, sA, sTmp);
  gdn_invert_block_row<2>(sL, sA, sTmp);
  gdn_invert_block_row<3>(sL, sA, sTmp);
}

// (a) One CTA per (chunk q, bh). Shared memory (floats): sK [64][K+4], sV [64][V+4], sL, sA [64][68],
// sTmp [16][52], sG, sBeta, sKdS, sBG [64].
template <typename T, bool kSplit>
__global__ void __launch_bounds__(kPrepThreads) gdn_chunk_prep_kernel(PrepArgs a) {
  extern __shared__ __align__(128) float smem_prep[];
  const int64_t q = blockIdx.x;
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const ChunkPos cp = chunk_pos(q, a.NC, a.L);
  const int rows = cp.rows;
  const int K = a.K, V = a.V, ldk = K + 4, ldv = V + 4;

  float* sK = smem_prep;
  float* sV = sK + kChunk * ldk;
  float* sL = sV + kChunk * ldv;
  float* sA = sL + kChunk * kLdChunk;
  float* sTmp = sA + kChunk * kLdChunk;
  float* sG = sTmp + 16 * kInvLd;
  float* sBeta = sG + kChunk;
  float* sKdS = sBeta + kChunk; // exp(G_last - G_r) (0 on padding rows)
  float* sBG = sKdS + kChunk;   // beta_r gamma_r = beta_r exp(G_r) (0 on padding rows)

  const int64_t row0 = (b * a.T + cp.t0) * a.H + h; // row of token t0 in [B, T, H]
  load_tile_f32<T>(sK, ldk, static_cast<const T*>(a.k) + row0 * K, a.H * K, rows, kChunk, K, K);
  load_tile_f32<T>(sV, ldv, static_cast<const T*>(a.v) + row0 * V, a.H * V, rows, kChunk, V, V);
  load_chunk_gates(sG, sBeta, a.g + row0, a.beta + row0, a.H, rows); // ends with __syncthreads
  const float g_last = sG[rows - 1];
  if (threadIdx.x < kChunk) {
    const int r = threadIdx.x;
    sKdS[r] = r < rows ? expf(g_last - sG[r]) : 0.f;
    sBG[r] = r < rows ? sBeta[r] * expf(sG[r]) : 0.f;
  }

  // (8) KK^T (only its strict lower part is used)
  block_gemm<1, 4, kSplit, RowMajor, ColMajor>(sL, kLdChunk, sK, ldk, sK, ldk, kChunk, kChunk, K);
  __syncthreads();
  // (8) L_ij = beta_i (k_i . k_j) exp(G_i - G_j) for j < i < rows; only G_i - G_j with i > j is exponentiated
  for (int idx = threadIdx.x; idx < kChunk * kChunk; idx += blockDim.x) {
    const int i = idx / kChunk, j = idx % kChunk;
    float l = 0.f;
    if (j < i && i < rows)
      l = sBeta[i] * sL[i * kLdChunk + j] * expf(sG[i] - sG[j]);
    sL[i * kLdChunk + j] = l;
  }
  __syncthreads();
  gdn_invert_unit_lower64(sL, sA, sTmp); // (8) A = (I + L)^-1; ends with __syncthreads

  // Kd_r = exp(G_c - G_r) k_r (11) goes out before sK is rescaled in place to diag(beta gamma) K (9);
  // sV becomes diag(beta) V (9). Padding rows stay zero (beta = 0 there, Kd masked).
  const int64_t chunk = bh * a.NCH + q;
  float* Kd = a.Kd + chunk * kChunk * K;
  for (TileIter it(K / 4); it.r < kChunk; it.next()) {
    const int r = it.r, c = it.c * 4;
    float x[4];
    ld_f32(sK + r * ldk + c, x);
    const float kd = sKdS[r];
    const float bg = sBG[r];
    float y[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      y[i] = kd * x[i];
      x[i] *= bg;
    }
    *reinterpret_cast<float4*>(Kd + r * K + c) = make_float4(y[0], y[1], y[2], y[3]);
    st_f32(sK + r * ldk + c, x);
  }
  for (TileIter it(V / 4); it.r < kChunk; it.next()) {
    const int r = it.r, c = it.c * 4;
    float x[4];
    ld_f32(sV + r * ldv + c, x);
#pragma unroll
    for (int i = 0; i < 4; ++i)
      x[i] *= sBeta[r];
    st_f32(sV + r * ldv + c, x);
  }
  if (a.A != nullptr) {
    float* Ag = a.A + chunk * kChunk * kChunk;
    for (int idx = threadIdx.x; idx < kChunk * kChunk / 4; idx += blockDim.x) {
      const int r = idx / (kChunk / 4), c = (idx % (kChunk / 4)) * 4;
      *reinterpret_cast<float4*>(Ag + r * kChunk + c) = *reinterpret_cast<const float4*>(sA + r * kLdChunk + c);
    }
  }
  if (threadIdx.x == 0)
    a.gam[chunk] = expf(g_last);
  __syncthreads();

  // (9) W = A diag(beta gamma) K,  U = A diag(beta) V; A is lower triangular. Stored straight to the
  // workspace (fp32, 256-byte aligned chunks).
  block_gemm_wide<kSplit, RowMajor, RowMajor, Tri::kLower>(
      a.W + chunk * kChunk * K, K, sA, kLdChunk, sK, ldk, kChunk, K, kChunk);
  block_gemm_wide<kSplit, RowMajor, RowMajor, Tri::kLower>(
      a.U + chunk * kChunk * V, V, sA, kLdChunk, sV, ldv, kChunk, V, kChunk);
}

size_t gdn_prep_smem_bytes(int K, int V) {
  return sizeof(float) *
         (static_cast<size_t>(kChunk) * (K + 4) + kChunk * (V + 4) + 2 * kChunk * kLdChunk + 16 * kInvLd + 4 * kChunk);
}

// (b) One CTA per (64-column tile, block, bh): the tile is either V columns of the state (data: they
// start at h0[blk] in the backward, at the initial state for block 0 in the forward, else at zero, and
// use U) or, with a.trans, K columns of the identity (U = 0, so that after the block they hold M_b, (12)).
// Block 0 has no identity tiles: it starts from its true state, so M_0 is never needed. h stays in
// shared memory in fp32 for all the block's chunks; W, Kd, U of chunk c + 1 stream in (cp.async) while
// chunk c computes.
// Shared memory (floats): sH [K][72], sW [2][64][K+4], sKd [2][64][K+8], sU [2][64][72], sVn [64][72].
template <bool kSplit>
__global__ void __launch_bounds__(kChainThreads, 1) gdn_chunk_chain_kernel(ChainArgs a) {
  extern __shared__ __align__(128) float smem_chain[];
  constexpr int kCols = kChainCols;
  // Leading dimensions for conflict-free fragment loads (see warp_mma): operands read by ldmatrix
  // (row-major A, column-major B) want ld = 4 (mod 8); operands read by scalar loads (column-major A,
  // row-major B) want ld = 8 (mod 32).
  constexpr int ldn = kCols + 8; // h, U, V_new: row-major B operands
  const int K = a.K, V = a.V;
  const int ldw = K + 4;  // W: A operand of (10), row-major (ldmatrix)
  const int ldkd = K + 8; // Kd: A operand of (11), read column-major (scalar loads)
  // Tiles in block order, each block's [identity | data]; block 0's identity tiles are absent, hence
  // the shift by id_tiles.
  const int data_tiles = (V + kCols - 1) / kCols;
  const int id_tiles = a.trans != nullptr ? (K + kCols - 1) / kCols : 0;
  const int64_t x = blockIdx.x + id_tiles;
  const int64_t blk = x / (id_tiles + data_tiles);
  const int t = static_cast<int>(x % (id_tiles + data_tiles));
  const bool identity = t < id_tiles;
  const int c0 = (identity ? t : t - id_tiles) * kCols;
  const int n_cols = min(kCols, (identity ? K : V) - c0);
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V;

  float* sH = smem_chain;
  float* sW0 = sH + K * ldn;
  float* sKd0 = sW0 + 2 * kChunk * ldw;
  float* sU0 = sKd0 + 2 * kChunk * ldkd;
  float* sVn = sU0 + 2 * kChunk * ldn;
  auto sW = [&](int i) { return sW0 + i * kChunk * ldw; };
  auto sKd = [&](int i) { return sKd0 + i * kChunk * ldkd; };
  auto sU = [&](int i) { return sU0 + i * kChunk * ldn; };

  // h at the start of the block
  const float* start = nullptr;
  if (!identity) {
    if (a.h0 != nullptr) {
      start = a.h0 + ((b * a.NB + blk) * a.H + h) * KV + c0;
    } else if (blk == 0 && a.init != nullptr) {
      start = a.init + bh * KV + c0;
    }
  }
  for (TileIter it(kCols); it.r < K; it.next()) {
    const int k = it.r, j = it.c;
    float v = 0.f;
    if (j < n_cols) {
      v = identity ? (k == c0 + j ? 1.f : 0.f) : (start != nullptr ? start[k * V + j] : 0.f);
    }
    sH[k * ldn + j] = v;
  }

  const int64_t chunk0 = bh * a.NCH + blk * a.NC; // first chunk of this block in the workspace
  auto prefetch = [&](int64_t c, int buf) {
    const int64_t chunk = chunk0 + c;
    cp_async_tile(sW(buf), ldw, a.W + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_tile(sKd(buf), ldkd, a.Kd + chunk * kChunk * K, K, 0, kChunk, K, K);
    if (!identity) { // zero-filled past n_cols; identity tiles zero sU once below
      cp_async_tile(sU(buf), ldn, a.U + chunk * kChunk * V, V, c0, kChunk, kCols, n_cols);
    }
    cp_async_commit();
  };

  if (identity) { // U = 0 in both buffers for the whole block
    for (int idx = threadIdx.x; idx < 2 * kChunk * ldn; idx += blockDim.x)
      sU0[idx] = 0.f;
  }
  prefetch(0, 0);
  for (int64_t c = 0; c < a.NC; ++c) {
    const int buf = static_cast<int>(c & 1);
    const int64_t chunk = chunk0 + c;
    // buffer buf ^ 1 was last read in chunk c - 1, which ended with __syncthreads
    if (c + 1 < a.NC) {
      prefetch(c + 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    const float gamma_c = a.gam[chunk];
    __syncthreads(); // chunk c's tiles (every thread's copies) and the previous h are visible

    if (a.hin != nullptr && !identity) { // backward: h_in of this chunk
      store_tile_f32(a.hin + chunk * KV + c0, V, sH, ldn, K, n_cols);
    }
    // (10) V_new = U - W h_in, computed as -(-U + W h_in) so the accumulator can start from U
    block_gemm<1, kChainFn, kSplit, RowMajor, RowMajor>(
        sVn, ldn, sW(buf), ldw, sH, ldn, kChunk, kCols, K, sU(buf), ldn, -1.f, -1.f);
    __syncthreads();                      // V_new complete; every read of h_in done before (11) overwrites it
    if (a.vnew != nullptr && !identity) { // backward: V_new of this chunk
      store_tile_f32(a.vnew + chunk * kChunk * V + c0, V, sVn, ldn, kChunk, n_cols);
    }
    // (11) h_out = gamma_c h_in + Kd^T V_new (Kd^T read as the column-major view of Kd); each warp
    // reads its own h tile into the accumulator before overwriting it, no other warp reads h here
    block_gemm_wide<kSplit, ColMajor, RowMajor>(
        sH, ldn, sKd(buf), ldkd, sVn, ldn, K, kCols, kChunk, sH, ldn, gamma_c, 1.f);
    __syncthreads();
  }
  if (identity) {
    const int64_t KK = static_cast<int64_t>(K) * K;
    store_tile_f32(a.trans + ((b * (a.NB - 1) + blk - 1) * a.H + h) * KK + c0, K, sH, ldn, K, n_cols);
  } else if (a.hb != nullptr) {
    store_tile_f32(a.hb + (bh * a.NB + blk) * KV + c0, V, sH, ldn, K, n_cols);
  }
}

size_t gdn_chain_smem_bytes(int K) {
  constexpr int ldn = kChainCols + 8;
  return sizeof(float) *
         (static_cast<size_t>(K) * ldn + 2 * kChunk * (K + 4) + 2 * kChunk * (K + 8) + 3 * kChunk * ldn);
}

struct CombineFwdArgs {
  const float* hb;    // [BH][NB][K][V]
  const float* trans; // [B,NB-1,H,K,K]
  const float* init;  // [B,H,K,V] or null
  float* states;      // [B,NB,H,K,V]
  float* final_state; // [B,H,K,V]
  int64_t H, NB;
  int K, V;
};

// (c) One CTA per (32 columns of V, bh), sequential over blocks (12): states[0] = initial (or 0),
// states[1] = H_0 (block 0's chain started from the initial state), states[b + 1] = M_b states[b] + H_b,
// final = the last. Always 3xTF32: the combine is cheap and every state passes through it. M_{b+1} and
// H_{b+1} stream in (cp.async) while block b's product runs.
// Shared memory (floats): sM [2][K][K+4], sHt [2][K][36], sS [2][K][36].
__global__ void __launch_bounds__(kCombThreads) gdn_combine_fwd_kernel(CombineFwdArgs a) {
  extern __shared__ __align__(128) float smem_comb[];
  constexpr int ldc = kCombCols + 4;
  const int K = a.K, V = a.V, ldm = K + 4;
  const int c0 = blockIdx.x * kCombCols;
  const int nv = min(kCombCols, V - c0);
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V, KK = static_cast<int64_t>(K) * K;
  float* sM0 = smem_comb;
  float* sHt0 = sM0 + 2 * K * ldm;
  float* sS0 = sHt0 + 2 * K * ldc;
  auto sM = [&](int i) { return sM0 + i * K * ldm; };
  auto sHt = [&](int i) { return sHt0 + i * K * ldc; };
  auto sS = [&](int i) { return sS0 + i * K * ldc; };
  auto prefetch = [&](int64_t blk, int buf) {
    if (blk > 0) {
      cp_async_tile(sM(buf), ldm, a.trans + ((b * (a.NB - 1) + blk - 1) * a.H + h) * KK, K, 0, K, K, K);
    }
    cp_async_tile(sHt(buf), ldc, a.hb + (bh * a.NB + blk) * KV, V, c0, K, kCombCols, nv); // H_b, these columns
    cp_async_commit();
  };

  copy_tile_f32(sS(0), ldc, a.init == nullptr ? nullptr : a.init + bh * KV + c0, V, K, K, kCombCols, nv);
  if (a.NB > 0)
    prefetch(0, 0);
  int cur = 0;
  for (int64_t blk = 0; blk < a.NB; ++blk) {
    const int buf = static_cast<int>(blk & 1);
    if (blk + 1 < a.NB) { // buffer buf ^ 1 was last read by block blk - 1's product, before its barrier
      prefetch(blk + 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads(); // M_b, H_b landed; sS(cur) (written by the previous product) is visible
    store_tile_f32(a.states + ((b * a.NB + blk) * a.H + h) * KV + c0, V, sS(cur), ldc, K, nv);
    if (blk == 0) {
      for (int idx = threadIdx.x; idx < K * ldc; idx += blockDim.x)
        sS(cur ^ 1)[idx] = sHt(buf)[idx];
    } else {
      block_gemm<1, 4, true, RowMajor, RowMajor>(
          sS(cur ^ 1), ldc, sM(buf), ldm, sS(cur), ldc, K, kCombCols, K, sHt(buf), ldc, 1.f, 1.f);
    }
    __syncthreads();
    cur ^= 1;
  }
  __syncthreads();
  store_tile_f32(a.final_state + bh * KV + c0, V, sS(cur), ldc, K, nv);
}

size_t gdn_combine_fwd_smem_bytes(int K) {
  constexpr int ldc = kCombCols + 4;
  return sizeof(float) * (2 * static_cast<size_t>(K) * (K + 4) + 4 * K * ldc);
}

// (b') The sequential schedule of the chain (10), (11): one CTA per (16 columns of V, bh) runs through
// every chunk of every block in order from the initial state, keeping its columns of h in shared memory
// in fp32, and writes the state before each block to states[b] and the last to final_state. No M_b, no
// combine: it does half the work of (b) but runs the whole sequence as one chain, so it wins when there
// are too few blocks to run in parallel (one block: generation). W, Kd, U of chunk q + 1 stream in
// (cp.async) while chunk q computes.
// Shared memory (floats): sH [K][24], sW [2][64][K+4], sKd [2][64][K+8], sU [2][64][24], sVn [64][24].
template <bool kSplit>
__global__ void __launch_bounds__(kSeqThreads, 1) gdn_chain_seq_kernel(SeqChainArgs a) {
  extern __shared__ __align__(128) float smem_seq[];
  constexpr int kCols = kSeqCols;
  constexpr int ldn = kCols + 8; // leading dimensions as in (b) // h, U, V_new: row-major B operands
  const int K = a.K, V = a.V;
  const int ldw = K + 4;  // W: A operand of (10), row-major (ldmatrix)
  const int ldkd = K + 8; // Kd: A operand of (11), read column-major (scalar loads)
  const int c0 = blockIdx.x * kCols;
  const int nv = kCols; // V % 16 == 0
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V;

  float* sH = smem_seq;
  float* sW0 = sH + K * ldn;
  float* sKd0 = sW0 + 2 * kChunk * ldw;
  float* sU0 = sKd0 + 2 * kChunk * ldkd;
  float* sVn = sU0 + 2 * kChunk * ldn;
  auto sW = [&](int i) { return sW0 + i * kChunk * ldw; };
  auto sKd = [&](int i) { return sKd0 + i * kChunk * ldkd; };
  auto sU = [&](int i) { return sU0 + i * kChunk * ldn; };

  const int64_t chunk0 = bh * a.NCH;
  auto prefetch = [&](int64_t q, int buf) {
    const int64_t chunk = chunk0 + q;
    cp_async_tile(sW(buf), ldw, a.W + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_tile(sKd(buf), ldkd, a.Kd + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_tile(sU(buf), ldn, a.U + chunk * kChunk * V, V, c0, kChunk, kCols, nv);
    cp_async_commit();
  };

  copy_tile_f32(sH, ldn, a.init == nullptr ? nullptr : a.init + bh * KV + c0, V, K, K, kCols, nv);
  if (a.NCH > 0)
    prefetch(0, 0);
  for (int64_t q = 0; q < a.NCH; ++q) {
    const int buf = static_cast<int>(q & 1);
    // buffer buf ^ 1 was last read in chunk q - 1, which ended with __syncthreads
    if (q + 1 < a.NCH) {
      prefetch(q + 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    const float gamma_c = a.gam[chunk0 + q];
    __syncthreads();     // chunk q's tiles (every thread's copies) and the previous h are visible
    if (q % a.NC == 0) { // h is the state before block q / NC; nothing writes sH before the next barrier
      const int64_t blk = q / a.NC;
      store_tile_f32(a.states + ((b * a.NB + blk) * a.H + h) * KV + c0, V, sH, ldn, K, nv);
    }
    // (10) V_new = U - W h_in, computed as -(-U + W h_in) so the accumulator can start from U
    block_gemm<1, 1, kSplit, RowMajor, RowMajor>(
        sVn, ldn, sW(buf), ldw, sH, ldn, kChunk, kCols, K, sU(buf), ldn, -1.f, -1.f);
    __syncthreads(); // V_new complete; every read of h_in done before (11) overwrites it
    // (11) h_out = gamma_c h_in + Kd^T V_new; each warp reads its own h tile into the accumulator before
    // overwriting it, no other warp reads h here. 16 x 16 warp tiles: one per warp, two independent MMAs
    // per fragment of Kd^T.
    block_gemm<1, 2, kSplit, ColMajor, RowMajor>(
        sH, ldn, sKd(buf), ldkd, sVn, ldn, K, kCols, kChunk, sH, ldn, gamma_c, 1.f);
    __syncthreads();
  }
  store_tile_f32(a.final_state + bh * KV + c0, V, sH, ldn, K, nv);
}

size_t gdn_chain_seq_smem_bytes(int K) {
  constexpr int ldn = kSeqCols + 8;
  return sizeof(float) *
         (static_cast<size_t>(K) * ldn + 2 * kChunk * (K + 4) + 2 * kChunk * (K + 8) + 3 * kChunk * ldn);
}

} // namespace

void launch_chunk_prep(const PrepArgs& a, DType dtype, int64_t bh, cudaStream_t stream) {
  if (a.NCH == 0 || bh == 0)
    return;
  ARL2_CHECK(a.NCH < (int64_t{1} << 31), "gdn chunk prep: too many chunks for one grid");
  const size_t smem = gdn_prep_smem_bytes(a.K, a.V);
  const dim3 grid(static_cast<unsigned>(a.NCH), static_cast<unsigned>(bh));
  dispatch_dtype(dtype, "gdn chunk prep", [&](auto tag) {
    using T = decltype(tag);
    auto kernel = gdn_chunk_prep_kernel<T, std::is_same_v<T, float>>;
    set_smem_limit(kernel, smem, "gdn_chunk_prep_kernel");
    kernel<<<grid, kPrepThreads, smem, stream>>>(a);
    check_launch("gdn_chunk_prep_kernel");
  });
}

void launch_chunk_chain(const ChainArgs& a, bool split, int64_t bh, cudaStream_t stream) {
  if (a.NB == 0 || bh == 0)
    return;
  const int64_t data_tiles = (a.V + kChainCols - 1) / kChainCols;
  const int64_t id_tiles = a.trans != nullptr ? (a.K + kChainCols - 1) / kChainCols : 0;
  const int64_t ctas = a.NB * (data_tiles + id_tiles) - id_tiles;
  ARL2_CHECK(ctas < (int64_t{1} << 31), "gdn chunk chain: too many blocks for one grid");
  const size_t smem = gdn_chain_smem_bytes(a.K);
  const dim3 grid(static_cast<unsigned>(ctas), static_cast<unsigned>(bh));
  auto kernel = split ? gdn_chunk_chain_kernel<true> : gdn_chunk_chain_kernel<false>;
  set_smem_limit(kernel, smem, "gdn_chunk_chain_kernel");
  kernel<<<grid, kChainThreads, smem, stream>>>(a);
  check_launch("gdn_chunk_chain_kernel");
}

void launch_combine_fwd(
    const GdnShape& s,
    const float* hb,
    const float* trans,
    const float* init,
    float* states,
    float* final_state,
    cudaStream_t stream) {
  const int64_t bh = s.batch * s.heads;
  if (bh == 0)
    return;
  CombineFwdArgs cb;
  cb.hb = hb;
  cb.trans = trans;
  cb.init = init;
  cb.states = states;
  cb.final_state = final_state;
  cb.H = s.heads;
  cb.NB = s.num_blocks();
  cb.K = static_cast<int>(s.dim_k);
  cb.V = static_cast<int>(s.dim_v);
  const size_t smem = gdn_combine_fwd_smem_bytes(cb.K);
  set_smem_limit(gdn_combine_fwd_kernel, smem, "gdn_combine_fwd_kernel");
  const dim3 grid(static_cast<unsigned>((cb.V + kCombCols - 1) / kCombCols), static_cast<unsigned>(bh));
  gdn_combine_fwd_kernel<<<grid, kCombThreads, smem, stream>>>(cb);
  check_launch("gdn_combine_fwd_kernel");
}

bool use_seq_chain(const GdnShape& s, int sms) {
  // One block only: with more, the backward needs the M_b that only the parallel schedule makes. Then
  // chain steps on the critical path, in units of one sequential-schedule step (16 columns); a step of
  // a 64-column tile of (b) measured 1.27 times as long (H200, K = V = 128).
  const int64_t bh = s.batch * s.heads;
  const int64_t seq_waves = (bh * ((s.dim_v + kSeqCols - 1) / kSeqCols) + sms - 1) / sms;
  const int64_t par_waves = (bh * ((s.dim_v + kChainCols - 1) / kChainCols) + sms - 1) / sms;
  return s.num_blocks() == 1 && 100 * seq_waves <= 127 * par_waves;
}

void launch_chain_seq(const SeqChainArgs& a, bool split, int64_t bh, cudaStream_t stream) {
  if (bh == 0)
    return;
  const size_t smem = gdn_chain_seq_smem_bytes(a.K);
  const dim3 grid(static_cast<unsigned>((a.V + kSeqCols - 1) / kSeqCols), static_cast<unsigned>(bh));
  auto kernel = split ? gdn_chain_seq_kernel<true> : gdn_chain_seq_kernel<false>;
  set_smem_limit(kernel, smem, "gdn_chain_seq_kernel");
  kernel<<<grid, kSeqThreads, smem, stream>>>(a);
  check_launch("gdn_chain_seq_kernel");
}

} // namespace gdn_detail

size_t gdn_block_scan_fwd_workspace_bytes(const GdnScanFwdParams& p) {
  gdn_detail::check_shape(p.shape, "gdn_block_scan (CUDA)");
  size_t bytes = 0;
  gdn_detail::carve_fwd_workspace(nullptr, p.shape, &bytes);
  return bytes;
}

void gdn_block_scan_fwd_cuda(const GdnScanFwdParams& p, void* workspace, cudaStream_t stream) {
  using namespace gdn_detail;
  const char* op = "gdn_block_scan (CUDA)";
  const GdnShape& s = p.shape;
  check_shape(s, op);
  const int64_t bh = s.batch * s.heads;
  if (bh == 0)
    return;
  const int64_t nb = s.num_blocks();
  check_tensor_ptr(p.final_state, "final_state", op, true);
  check_tensor_ptr(p.initial_state, "initial_state", op, false);
  if (nb > 0) {
    check_tensor_ptr(p.k, "k", op, true);
    check_tensor_ptr(p.v, "v", op, true);
    check_tensor_ptr(p.g, "g", op, true);
    check_tensor_ptr(p.beta, "beta", op, true);
    check_tensor_ptr(p.states, "states", op, true);
  }
  check_tensor_ptr(p.transitions, "transitions", op, nb > 1);
  size_t bytes = 0;
  const FwdWorkspace w = carve_fwd_workspace(workspace, s, &bytes);
  ARL2_CHECK(workspace != nullptr || bytes == 0, op, ": workspace is null");
  ARL2_CHECK(is_aligned(workspace, 256), op, ": workspace must be 256-byte aligned");

  const bool split = p.dtype == DType::kFloat32;
  const auto* init = static_cast<const float*>(p.initial_state);
  auto* states = static_cast<float*>(p.states);
  auto* final_state = static_cast<float*>(p.final_state);
  auto* trans = static_cast<float*>(p.transitions);
  launch_chunk_prep(prep_args(s, p.k, p.v, p.g, p.beta, w.chunks, nullptr), p.dtype, bh, stream);
  if (use_seq_chain(s, sm_count())) {
    launch_chain_seq(seq_chain_args(s, w.chunks, init, states, final_state), split, bh, stream);
  } else { // block 0 from the initial state, the others from zero; the combine chains them with the M_b
    launch_chunk_chain(chain_fwd_args(s, w, init, trans), split, bh, stream);
    launch_combine_fwd(s, w.hb, trans, init, states, final_state, stream);
  }
}

} // namespace arl2::kernels
