// arl2::gdn_block_scan forward on CUDA: the chunked WY/UT algorithm of ops/specs/gdn_block_scan.md,
// equations (8)-(12), in three launches (or (a) and (b') when that is faster, see use_seq_chain):
//   (a) gdn_chunk_prep_kernel   grid (chunk, bh): G cumsum, A = (I + L)^-1 and the row scales of (9)
//       (A form), or W, U, Kd of (9), (11) (WY form, for (b') and the backward's recompute)     (8), (9)
//   (b) gdn_chunk_chain_a_kernel  grid (column tile x segment, bh): every block cut into segments of whole
//       chunks (chain_segments, so that the CTAs fill the SMs' waves), every segment's chunk chain in
//       parallel over its V columns (segment 0 from the initial state, the others from zero) and, for
//       segments 1.., K identity columns with V = 0, giving H_s and the transitions M_s; (9) applied on the
//       fly from A, k and v                                                                   (9)-(12)
//   (c) gdn_combine_fwd_kernel  grid (V column tile, bh): state after segment s = M_s state + H_s,
//       states[b] at block starts                                                               (12)
//       gdn_block_transitions_kernel  grid (K column tile, block, bh): the op's M_b, products of its
//       segments' M_s
//   (b') gdn_chain_seq_kernel  grid (16 columns of V, bh): one chain through every block in order from the
//       initial state, writing states[b] and final_state                                     (10), (11)
// (a) in the WY form and gdn_chunk_chain_kernel (the WY-form chain from given block states, keeping
// h_in and V_new) are the backward's recompute (gdn_block_scan_bwd.cu).
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

// (a) One CTA per (chunk q, bh), in the WY form (kWY) or the A form (see PrepArgs). Shared memory
// (floats): sK [64][K+4], sL [64][68], for kWY sA [64][68] (the A form has no use for K once L is formed,
// so its A takes K's place, which it sizes at least [64][68]: 4 CTAs per SM instead of 3), sTmp [16][52],
// sG, sBeta, sKdS, sBG [64], and for kWY sV [64][V+4].
template <typename T, bool kSplit, bool kWY>
__global__ void __launch_bounds__(kPrepThreads) gdn_chunk_prep_kernel(PrepArgs a) {
  extern __shared__ __align__(128) float smem_prep[];
  const int64_t q = blockIdx.x;
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const ChunkPos cp = chunk_pos(q, a.NC, a.L);
  const int rows = cp.rows;
  const int K = a.K, V = a.V, ldk = K + 4, ldv = V + 4;

  float* sK = smem_prep;
  float* sL = sK + kChunk * (kWY ? ldk : max(ldk, kLdChunk));
  float* sA = kWY ? sL + kChunk * kLdChunk : sK;
  float* sTmp = sL + (kWY ? 2 : 1) * kChunk * kLdChunk;
  float* sG = sTmp + 16 * kInvLd;
  float* sBeta = sG + kChunk;
  float* sKdS = sBeta + kChunk; // exp(G_last - G_r) (0 on padding rows)
  float* sBG = sKdS + kChunk;   // beta_r gamma_r = beta_r exp(G_r) (0 on padding rows)
  float* sV = sBG + kChunk;     // kWY only

  const int64_t row0 = (b * a.T + cp.t0) * a.H + h; // row of token t0 in [B, T, H]
  load_tile_f32<T>(sK, ldk, static_cast<const T*>(a.k) + row0 * K, a.H * K, rows, kChunk, K, K);
  if constexpr (kWY) {
    load_tile_f32<T>(sV, ldv, static_cast<const T*>(a.v) + row0 * V, a.H * V, rows, kChunk, V, V);
  }
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
  const int64_t chunk = bh * a.NCH + q;
  if (threadIdx.x == 0)
    a.gam[chunk] = expf(g_last);
  if constexpr (!kWY) {
    store_tile_f32(a.A + chunk * kChunk * kChunk, kChunk, sA, kLdChunk, kChunk, kChunk);
    if (threadIdx.x < kChunk) {
      const int r = threadIdx.x;
      *reinterpret_cast<float4*>(a.rs + (chunk * kChunk + r) * 4) = make_float4(sBG[r], sKdS[r], sBeta[r], 0.f);
    }
    return;
  }

  // Kd_r = exp(G_c - G_r) k_r (11) goes out before sK is rescaled in place to diag(beta gamma) K (9);
  // sV becomes diag(beta) V (9). Padding rows stay zero (beta = 0 there, Kd masked).
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
    store_tile_f32(a.A + chunk * kChunk * kChunk, kChunk, sA, kLdChunk, kChunk, kChunk);
  }
  __syncthreads();

  // (9) W = A diag(beta gamma) K,  U = A diag(beta) V; A is lower triangular. Stored straight to the
  // workspace (fp32, 256-byte aligned chunks).
  block_gemm_wide<kSplit, RowMajor, RowMajor, Tri::kLower>(
      a.W + chunk * kChunk * K, K, sA, kLdChunk, sK, ldk, kChunk, K, kChunk);
  block_gemm_wide<kSplit, RowMajor, RowMajor, Tri::kLower>(
      a.U + chunk * kChunk * V, V, sA, kLdChunk, sV, ldv, kChunk, V, kChunk);
}

size_t gdn_prep_smem_bytes(int K, int V, bool wy) {
  const size_t k_tile = kChunk * static_cast<size_t>(wy ? K + 4 : std::max(K + 4, kLdChunk));
  return sizeof(float) *
         (k_tile + (wy ? kChunk * (V + 4) + kChunk * kLdChunk : 0) + kChunk * kLdChunk + 16 * kInvLd + 4 * kChunk);
}

// (b) One CTA per (64-column tile, segment, bh), every segment in parallel. A segment is a run of a.SC
// chunks of one block (a.S segments per block, chain_segments). The tile is either V columns of the state
// (segment 0 from the initial state, the others from zero, ending as H_s) or, when there is more than one
// segment, K columns of the identity with V = 0, which end as the segment's transition M_s (12);
// segment 0 has no identity tiles (it starts from its true state, so M_0 is never needed). Per chunk,
// with the row scales bg = beta gamma, kd, beta:
//   Y = diag(beta) V - diag(bg) K h       (9), (10) before A: U - W h = A Y
//   V_new = A Y                           (10)
//   h = gamma_c h + (diag(kd) K)^T V_new  (11)
// so W, U and Kd are never stored: the chain reads k and v in their own dtype and A (fp32). The next
// chunk's k and v rows wait in registers while this chunk computes; each shared tile is refilled as soon
// as the chunk's last reader of it is past a barrier, so every tile is single-buffered. h stays in
// shared memory in fp32 for the whole segment.
// Shared memory (floats): sH [K][72], sKb [64][K+4], sKd [64][K+8], sY, sVn [64][72], sA [64][68].
template <typename T, bool kSplit>
__global__ void __launch_bounds__(kChainThreads, 1) gdn_chunk_chain_a_kernel(ChainAArgs a) {
  extern __shared__ __align__(128) float smem_chain_a[];
  constexpr int kCols = kChainCols;
  constexpr int kThreads = kChainThreads;
  constexpr int VE = kVec<T>;
  constexpr int kKSlots = kChunk * kMaxHeadDim / VE / kThreads; // 16-byte pieces of a k tile per thread
  constexpr int kVSlots = kChunk * kCols / VE / kThreads;       // ... of a v tile
  static_assert(
      kKSlots * VE * kThreads == kChunk * kMaxHeadDim && kVSlots * VE * kThreads == kChunk * kCols, "tile split");
  // Leading dimensions for conflict-free fragment loads (see warp_mma): operands read by ldmatrix
  // (row-major A, column-major B) want ld = 4 (mod 8); operands read by scalar loads (column-major A,
  // row-major B) want ld = 8 (mod 32).
  constexpr int ldn = kCols + 8; // h, Y, V_new: row-major B operands
  const int K = a.K, V = a.V;
  const int ldkb = K + 4; // diag(bg) K: A operand of Y, row-major (ldmatrix)
  const int ldkd = K + 8; // diag(kd) K: A operand of (11), read column-major (scalar loads)
  // Tiles in segment order, each segment's [identity | data]; segment 0's identity tiles are absent,
  // hence the shift by id_tiles.
  const int data_tiles = (V + kCols - 1) / kCols;
  const int id_tiles = a.mseg != nullptr ? (K + kCols - 1) / kCols : 0;
  const int64_t x = blockIdx.x + id_tiles;
  const int64_t seg = x / (id_tiles + data_tiles);
  const int t = static_cast<int>(x % (id_tiles + data_tiles));
  const int64_t blk = seg / a.S;
  const int64_t c_begin = (seg % a.S) * a.SC, c_end = min64(a.NC, c_begin + a.SC); // chunks of the block
  const bool identity = t < id_tiles;
  const int c0 = (identity ? t : t - id_tiles) * kCols;
  const int n_cols = min(kCols, (identity ? K : V) - c0);
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V;

  float* sH = smem_chain_a;
  float* sKb = sH + K * ldn;
  float* sKd = sKb + kChunk * ldkb;
  float* sY = sKd + kChunk * ldkd;
  float* sVn = sY + kChunk * ldn;
  float* sA = sVn + kChunk * ldn;

  // h at the start of the segment
  const float* start = !identity && seg == 0 && a.init != nullptr ? a.init + bh * KV + c0 : nullptr;
  for (TileIter it(kCols); it.r < K; it.next()) {
    const int k = it.r, j = it.c;
    float v = 0.f;
    if (j < n_cols) {
      v = identity ? (k == c0 + j ? 1.f : 0.f) : (start != nullptr ? start[k * V + j] : 0.f);
    }
    sH[k * ldn + j] = v;
  }

  // This thread's pieces of the k and v tiles (the same every chunk): row and column; rows >= 64: none.
  int kr[kKSlots], kc[kKSlots], vr[kVSlots], vc[kVSlots];
#pragma unroll
  for (int i = 0; i < kKSlots; ++i) {
    const int idx = threadIdx.x + i * kThreads, per_row = K / VE;
    kr[i] = idx / per_row;
    kc[i] = (idx % per_row) * VE;
  }
#pragma unroll
  for (int i = 0; i < kVSlots; ++i) {
    const int idx = threadIdx.x + i * kThreads, per_row = kCols / VE;
    vr[i] = idx / per_row;
    vc[i] = (idx % per_row) * VE;
  }

  const int64_t chunk0 = bh * a.NCH + blk * a.NC;       // first chunk of this block in the workspace
  const int64_t tok0 = (b * a.T + blk * a.L) * a.H + h; // row of the block's first token in [B, T, H]
  const T* kg = static_cast<const T*>(a.k) + tok0 * K;
  const T* vg = static_cast<const T*>(a.v) + tok0 * V + c0;
  const int64_t k_stride = a.H * K, v_stride = a.H * V;

  // The staged chunk: raw 16-byte pieces of k and v, their rows' scales, gamma_c.
  uint4 kx[kKSlots], vx[kVSlots];
  float2 ks[kKSlots];
  float vs[kVSlots];
  float gam_next = 0.f;
  auto stage = [&](int64_t c) {
    const int rows = static_cast<int>(min64(kChunk, a.L - c * kChunk));
    const float* rs = a.rs + (chunk0 + c) * kChunk * 4;
#pragma unroll
    for (int i = 0; i < kKSlots; ++i) {
      kx[i] = make_uint4(0u, 0u, 0u, 0u);
      if (kr[i] < rows)
        kx[i] = *reinterpret_cast<const uint4*>(kg + (c * kChunk + kr[i]) * k_stride + kc[i]);
      if (kr[i] < kChunk)
        ks[i] = *reinterpret_cast<const float2*>(rs + kr[i] * 4);
    }
    if (!identity) {
#pragma unroll
      for (int i = 0; i < kVSlots; ++i) {
        vx[i] = make_uint4(0u, 0u, 0u, 0u);
        if (vr[i] < rows && vc[i] < n_cols)
          vx[i] = *reinterpret_cast<const uint4*>(vg + (c * kChunk + vr[i]) * v_stride + vc[i]);
        vs[i] = rs[vr[i] * 4 + 2];
      }
    }
    gam_next = a.gam[chunk0 + c];
  };
  // diag(scale) K -> dst for the staged K, scale = its rows' bg (which = 0) or kd (which = 1)
  auto put_k = [&](float* dst, int ld, int which) {
#pragma unroll
    for (int i = 0; i < kKSlots; ++i) {
      if (kr[i] < kChunk) {
        float x[VE];
        unpack16<T>(kx[i], x);
        const float sc = which == 0 ? ks[i].x : ks[i].y;
#pragma unroll
        for (int e = 0; e < VE; ++e)
          x[e] *= sc;
        st_f32(dst + kr[i] * ld + kc[i], x);
      }
    }
  };
  auto put_v = [&] { // diag(beta) V -> sY
#pragma unroll
    for (int i = 0; i < kVSlots; ++i) {
      float x[VE];
      unpack16<T>(vx[i], x);
#pragma unroll
      for (int e = 0; e < VE; ++e)
        x[e] *= vs[i];
      st_f32(sY + vr[i] * ldn + vc[i], x);
    }
  };
  auto fetch_a = [&](int64_t c) {
    cp_async_tile(sA, kLdChunk, a.A + (chunk0 + c) * kChunk * kChunk, kChunk, 0, kChunk, kChunk, kChunk);
    cp_async_commit();
  };

  if (c_begin < c_end) {
    stage(c_begin);
    fetch_a(c_begin);
    put_k(sKb, ldkb, 0);
    put_k(sKd, ldkd, 1);
    if (!identity)
      put_v();
    cp_async_wait<0>();
  }
  __syncthreads();
  for (int64_t c = c_begin; c < c_end; ++c) {
    const bool more = c + 1 < c_end;
    const float gamma_c = gam_next;
    if (more)
      stage(c + 1);
    // Y = diag(beta) V - diag(bg) K h, as -(-diag(beta) V + diag(bg) K h) so the accumulator starts from sY
    block_gemm<1, 4, kSplit, RowMajor, RowMajor>(
        sY, ldn, sKb, ldkb, sH, ldn, kChunk, kCols, K, identity ? nullptr : sY, ldn, -1.f, -1.f);
    __syncthreads(); // Y complete; sKb read for the last time this chunk
    if (more)
      put_k(sKb, ldkb, 0);
    // (10) V_new = A Y, A lower triangular
    block_gemm_lower64<kSplit>(sVn, ldn, sA, kLdChunk, sY, ldn, kCols);
    __syncthreads(); // V_new complete; sA, sY read for the last time this chunk
    if (more) {
      fetch_a(c + 1);
      if (!identity)
        put_v();
    }
    // (11) h_out = gamma_c h_in + Kd^T V_new (Kd^T read as the column-major view of Kd); each warp reads its
    // own h tile into the accumulator before overwriting it, no other warp reads h here
    block_gemm_wide<kSplit, ColMajor, RowMajor>(sH, ldn, sKd, ldkd, sVn, ldn, K, kCols, kChunk, sH, ldn, gamma_c, 1.f);
    cp_async_wait<0>();
    __syncthreads(); // h, the next chunk's A, Kb and Y visible; sKd read for the last time this chunk
    if (more)
      put_k(sKd, ldkd, 1); // its first reader is past the next chunk's first barrier
  }
  const int64_t s_idx = bh * a.NB * a.S + seg;
  if (identity) {
    store_tile_f32(a.mseg + s_idx * K * K + c0, K, sH, ldn, K, n_cols);
  } else {
    store_tile_f32(a.hb + s_idx * KV + c0, V, sH, ldn, K, n_cols);
  }
}

size_t gdn_chain_a_smem_bytes(int K) {
  constexpr size_t ldn = kChainCols + 8;
  return sizeof(float) *
         (K * ldn + kChunk * (K + 4) + kChunk * (K + 8) + 2 * kChunk * ldn + static_cast<size_t>(kChunk) * kLdChunk);
}

// Shared memory of a WY-form chain CTA over kCols columns of the state (gdn_chunk_chain_kernel,
// gdn_chain_seq_kernel), in floats: sH [K][kCols+8], sW [2][64][K+4], sKd [2][64][K+8], sU [2][64][kCols+8],
// sVn [64][kCols+8]; W, Kd and U of a chunk stream into buffer i (cp.async) while the other is read.
// Leading dimensions as in (b): h, U, V_new are row-major B operands, W the row-major A operand of (10)
// (ldmatrix), Kd the A operand of (11) read column-major (scalar loads).
template <int kCols>
struct WyChainTiles {
  static constexpr int ldn = kCols + 8;
  float* H;
  float* Vn;
  float* W0;
  float* Kd0;
  float* U0;
  int ldw, ldkd;

  __device__ WyChainTiles(float* smem, int K) : ldw(K + 4), ldkd(K + 8) {
    H = smem;
    W0 = H + K * ldn;
    Kd0 = W0 + 2 * kChunk * ldw;
    U0 = Kd0 + 2 * kChunk * ldkd;
    Vn = U0 + 2 * kChunk * ldn;
  }
  __device__ float* W(int i) const {
    return W0 + i * kChunk * ldw;
  }
  __device__ float* Kd(int i) const {
    return Kd0 + i * kChunk * ldkd;
  }
  __device__ float* U(int i) const {
    return U0 + i * kChunk * ldn;
  }
  // Issues the copies of chunk `chunk`'s W, Kd and U columns [c0, c0 + n_cols) (zero-filled past) into buf.
  __device__ void prefetch(
      const float* Wg, const float* Kdg, const float* Ug, int K, int V, int64_t chunk, int c0, int n_cols, int buf)
      const {
    cp_async_tile(W(buf), ldw, Wg + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_tile(Kd(buf), ldkd, Kdg + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_tile(U(buf), ldn, Ug + chunk * kChunk * V, V, c0, kChunk, kCols, n_cols);
    cp_async_commit();
  }
  static size_t bytes(int K) {
    return sizeof(float) *
           (static_cast<size_t>(K) * ldn + 2 * kChunk * (K + 4) + 2 * kChunk * (K + 8) + 3 * kChunk * ldn);
  }
};

// The backward's recompute chain (WY form): one CTA per (64 columns of V, block, bh), every block in
// parallel from its state h0[blk], storing h_in and V_new of every chunk. h stays in shared memory in fp32
// for all the block's chunks; W, Kd, U of chunk c + 1 stream in (cp.async) while chunk c computes.
// Shared memory: WyChainTiles<64>.
template <bool kSplit>
__global__ void __launch_bounds__(kChainThreads, 1) gdn_chunk_chain_kernel(ChainArgs a) {
  extern __shared__ __align__(128) float smem_chain[];
  constexpr int kCols = kChainCols;
  const WyChainTiles<kCols> sm(smem_chain, a.K);
  constexpr int ldn = WyChainTiles<kCols>::ldn;
  const int K = a.K, V = a.V;
  const int data_tiles = (V + kCols - 1) / kCols;
  const int64_t blk = blockIdx.x / data_tiles;
  const int c0 = static_cast<int>(blockIdx.x % data_tiles) * kCols;
  const int n_cols = min(kCols, V - c0);
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V;

  copy_tile_f32(sm.H, ldn, a.h0 + ((b * a.NB + blk) * a.H + h) * KV + c0, V, K, K, kCols, n_cols);

  const int64_t chunk0 = bh * a.NCH + blk * a.NC; // first chunk of this block in the workspace
  auto prefetch = [&](int64_t c, int buf) { sm.prefetch(a.W, a.Kd, a.U, K, V, chunk0 + c, c0, n_cols, buf); };

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

    store_tile_f32(a.hin + chunk * KV + c0, V, sm.H, ldn, K, n_cols);
    // (10) V_new = U - W h_in, computed as -(-U + W h_in) so the accumulator can start from U
    block_gemm<1, kChainFn, kSplit, RowMajor, RowMajor>(
        sm.Vn, ldn, sm.W(buf), sm.ldw, sm.H, ldn, kChunk, kCols, K, sm.U(buf), ldn, -1.f, -1.f);
    __syncthreads(); // V_new complete; every read of h_in done before (11) overwrites it
    store_tile_f32(a.vnew + chunk * kChunk * V + c0, V, sm.Vn, ldn, kChunk, n_cols);
    // (11) h_out = gamma_c h_in + Kd^T V_new; each warp reads its own h tile into the accumulator before
    // overwriting it, no other warp reads h here
    block_gemm_wide<kSplit, ColMajor, RowMajor>(
        sm.H, ldn, sm.Kd(buf), sm.ldkd, sm.Vn, ldn, K, kCols, kChunk, sm.H, ldn, gamma_c, 1.f);
    __syncthreads();
  }
}

struct CombineFwdArgs {
  const float* hb;    // [BH][NSEG][K][V]
  const float* mseg;  // [BH][NSEG][K][K] (segment 0's unused), or null with one segment
  const float* init;  // [B,H,K,V] or null
  float* states;      // [B,NB,H,K,V]
  float* final_state; // [B,H,K,V]
  int64_t H, NB, S;
  int K, V;
};

// (c) One CTA per (32 columns of V, bh), sequential over the segments (12): the state before segment 0 is
// the initial one (or 0), after it H_0 (segment 0's chain started from the initial state), after segment
// s > 0: M_s state + H_s; states[b] is the state before segment b S, final the last. Always 3xTF32: the
// combine is cheap and every state passes through it. M_{s+1} and H_{s+1} stream in (cp.async) while
// segment s's product runs.
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
  const int64_t nseg = a.NB * a.S;
  float* sM0 = smem_comb;
  float* sHt0 = sM0 + 2 * K * ldm;
  float* sS0 = sHt0 + 2 * K * ldc;
  auto sM = [&](int i) { return sM0 + i * K * ldm; };
  auto sHt = [&](int i) { return sHt0 + i * K * ldc; };
  auto sS = [&](int i) { return sS0 + i * K * ldc; };
  auto prefetch = [&](int64_t seg, int buf) {
    if (seg > 0) {
      cp_async_tile(sM(buf), ldm, a.mseg + (bh * nseg + seg) * KK, K, 0, K, K, K);
    }
    cp_async_tile(sHt(buf), ldc, a.hb + (bh * nseg + seg) * KV, V, c0, K, kCombCols, nv); // H_s, these columns
    cp_async_commit();
  };

  copy_tile_f32(sS(0), ldc, a.init == nullptr ? nullptr : a.init + bh * KV + c0, V, K, K, kCombCols, nv);
  if (nseg > 0)
    prefetch(0, 0);
  int cur = 0;
  for (int64_t seg = 0; seg < nseg; ++seg) {
    const int buf = static_cast<int>(seg & 1);
    if (seg + 1 < nseg) { // buffer buf ^ 1 was last read by segment seg - 1's product, before its barrier
      prefetch(seg + 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads(); // M_s, H_s landed; sS(cur) (written by the previous product) is visible
    if (seg % a.S == 0)
      store_tile_f32(a.states + ((b * a.NB + seg / a.S) * a.H + h) * KV + c0, V, sS(cur), ldc, K, nv);
    if (seg == 0) {
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

// (d) The op's transitions: M_b = M_{bS+S-1} ... M_{bS} of blocks b >= 1 from their segments' (a copy for
// S = 1). One CTA per (32 columns of K, block - 1, bh); 3xTF32 like the combine.
// Shared memory (floats): sM [K][K+4], sX [2][K][36].
__global__ void __launch_bounds__(kCombThreads) gdn_block_transitions_kernel(CombineFwdArgs a, float* trans) {
  extern __shared__ __align__(128) float smem_trans[];
  constexpr int ldc = kCombCols + 4;
  const int K = a.K, ldm = K + 4;
  const int c0 = blockIdx.x * kCombCols;
  const int nk = min(kCombCols, K - c0);
  const int64_t blk = blockIdx.y + 1;
  const int64_t bh = blockIdx.z;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KK = static_cast<int64_t>(K) * K;
  const float* m = a.mseg + (bh * a.NB * a.S + blk * a.S) * KK; // M of the block's first segment
  float* sM = smem_trans;
  float* sX0 = sM + K * ldm;
  auto sX = [&](int i) { return sX0 + i * K * ldc; };
  copy_tile_f32(sX(0), ldc, m + c0, K, K, K, kCombCols, nk);
  int cur = 0;
  for (int64_t j = 1; j < a.S; ++j) {
    copy_tile_f32(sM, ldm, m + j * KK, K, K, K, K, K);
    __syncthreads();
    block_gemm<1, 4, true, RowMajor, RowMajor>(sX(cur ^ 1), ldc, sM, ldm, sX(cur), ldc, K, kCombCols, K);
    __syncthreads();
    cur ^= 1;
  }
  __syncthreads();
  store_tile_f32(trans + ((b * (a.NB - 1) + blk - 1) * a.H + h) * KK + c0, K, sX(cur), ldc, K, nk);
}

size_t gdn_block_transitions_smem_bytes(int K) {
  constexpr int ldc = kCombCols + 4;
  return sizeof(float) * (static_cast<size_t>(K) * (K + 4) + 2 * K * ldc);
}

// (b') The sequential schedule of the chain (10), (11): one CTA per (16 columns of V, bh) runs through
// every chunk of every block in order from the initial state, keeping its columns of h in shared memory
// in fp32, and writes the state before each block to states[b] and the last to final_state. No M_s, no
// combine: it does less work than (b) but runs the whole sequence as one chain, so it can win for one
// block (use_seq_chain). W, Kd, U of chunk q + 1 stream in (cp.async) while chunk q computes.
// Shared memory: WyChainTiles<16>.
template <bool kSplit>
__global__ void __launch_bounds__(kSeqThreads, 1) gdn_chain_seq_kernel(SeqChainArgs a) {
  extern __shared__ __align__(128) float smem_seq[];
  constexpr int kCols = kSeqCols;
  const WyChainTiles<kCols> sm(smem_seq, a.K);
  constexpr int ldn = WyChainTiles<kCols>::ldn;
  const int K = a.K, V = a.V;
  const int c0 = blockIdx.x * kCols;
  const int nv = kCols; // V % 16 == 0
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V;

  const int64_t chunk0 = bh * a.NCH;
  auto prefetch = [&](int64_t q, int buf) { sm.prefetch(a.W, a.Kd, a.U, K, V, chunk0 + q, c0, nv, buf); };

  copy_tile_f32(sm.H, ldn, a.init == nullptr ? nullptr : a.init + bh * KV + c0, V, K, K, kCols, nv);
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
      store_tile_f32(a.states + ((b * a.NB + blk) * a.H + h) * KV + c0, V, sm.H, ldn, K, nv);
    }
    // (10) V_new = U - W h_in, computed as -(-U + W h_in) so the accumulator can start from U
    block_gemm<1, 1, kSplit, RowMajor, RowMajor>(
        sm.Vn, ldn, sm.W(buf), sm.ldw, sm.H, ldn, kChunk, kCols, K, sm.U(buf), ldn, -1.f, -1.f);
    __syncthreads(); // V_new complete; every read of h_in done before (11) overwrites it
    // (11) h_out = gamma_c h_in + Kd^T V_new; each warp reads its own h tile into the accumulator before
    // overwriting it, no other warp reads h here. 16 x 16 warp tiles: one per warp, two independent MMAs
    // per fragment of Kd^T.
    block_gemm<1, 2, kSplit, ColMajor, RowMajor>(
        sm.H, ldn, sm.Kd(buf), sm.ldkd, sm.Vn, ldn, K, kCols, kChunk, sm.H, ldn, gamma_c, 1.f);
    __syncthreads();
  }
  store_tile_f32(a.final_state + bh * KV + c0, V, sm.H, ldn, K, nv);
}

} // namespace

void launch_chunk_prep(const PrepArgs& a, DType dtype, int64_t bh, cudaStream_t stream) {
  if (a.NCH == 0 || bh == 0)
    return;
  ARL2_CHECK(a.NCH < (int64_t{1} << 31), "gdn chunk prep: too many chunks for one grid");
  const bool wy = a.W != nullptr;
  const size_t smem = gdn_prep_smem_bytes(a.K, a.V, wy);
  const dim3 grid(static_cast<unsigned>(a.NCH), static_cast<unsigned>(bh));
  dispatch_dtype(dtype, "gdn chunk prep", [&](auto tag) {
    using T = decltype(tag);
    constexpr bool split = std::is_same_v<T, float>;
    auto kernel = wy ? gdn_chunk_prep_kernel<T, split, true> : gdn_chunk_prep_kernel<T, split, false>;
    set_smem_limit(kernel, smem, "gdn_chunk_prep_kernel");
    kernel<<<grid, kPrepThreads, smem, stream>>>(a);
    check_launch("gdn_chunk_prep_kernel");
  });
}

void launch_chunk_chain_a(const ChainAArgs& a, DType dtype, int64_t bh, cudaStream_t stream) {
  if (a.NB == 0 || bh == 0)
    return;
  const int64_t data_tiles = (a.V + kChainCols - 1) / kChainCols;
  const int64_t id_tiles = a.mseg != nullptr ? (a.K + kChainCols - 1) / kChainCols : 0;
  const int64_t ctas = a.NB * a.S * (data_tiles + id_tiles) - id_tiles;
  ARL2_CHECK(ctas < (int64_t{1} << 31), "gdn chunk chain: too many blocks for one grid");
  const size_t smem = gdn_chain_a_smem_bytes(a.K);
  const dim3 grid(static_cast<unsigned>(ctas), static_cast<unsigned>(bh));
  dispatch_dtype(dtype, "gdn chunk chain", [&](auto tag) {
    using T = decltype(tag);
    auto kernel = gdn_chunk_chain_a_kernel<T, std::is_same_v<T, float>>;
    set_smem_limit(kernel, smem, "gdn_chunk_chain_a_kernel");
    kernel<<<grid, kChainThreads, smem, stream>>>(a);
    check_launch("gdn_chunk_chain_a_kernel");
  });
}

void launch_chunk_chain(const ChainArgs& a, bool split, int64_t bh, cudaStream_t stream) {
  if (a.NB == 0 || bh == 0)
    return;
  const int64_t ctas = a.NB * ((a.V + kChainCols - 1) / kChainCols);
  ARL2_CHECK(ctas < (int64_t{1} << 31), "gdn chunk chain: too many blocks for one grid");
  const size_t smem = WyChainTiles<kChainCols>::bytes(a.K);
  const dim3 grid(static_cast<unsigned>(ctas), static_cast<unsigned>(bh));
  auto kernel = split ? gdn_chunk_chain_kernel<true> : gdn_chunk_chain_kernel<false>;
  set_smem_limit(kernel, smem, "gdn_chunk_chain_kernel");
  kernel<<<grid, kChainThreads, smem, stream>>>(a);
  check_launch("gdn_chunk_chain_kernel");
}

void launch_combine_fwd(
    const GdnShape& s,
    const FwdWorkspace& w,
    int segments,
    const float* init,
    float* states,
    float* final_state,
    float* trans,
    cudaStream_t stream) {
  const int64_t bh = s.batch * s.heads;
  if (bh == 0)
    return;
  CombineFwdArgs cb;
  cb.hb = w.hb;
  cb.mseg = w.mseg;
  cb.init = init;
  cb.states = states;
  cb.final_state = final_state;
  cb.H = s.heads;
  cb.NB = s.num_blocks();
  cb.S = segments;
  cb.K = static_cast<int>(s.dim_k);
  cb.V = static_cast<int>(s.dim_v);
  const size_t smem = gdn_combine_fwd_smem_bytes(cb.K);
  set_smem_limit(gdn_combine_fwd_kernel, smem, "gdn_combine_fwd_kernel");
  const dim3 grid(static_cast<unsigned>((cb.V + kCombCols - 1) / kCombCols), static_cast<unsigned>(bh));
  gdn_combine_fwd_kernel<<<grid, kCombThreads, smem, stream>>>(cb);
  check_launch("gdn_combine_fwd_kernel");
  if (cb.NB > 1) {
    const size_t tsmem = gdn_block_transitions_smem_bytes(cb.K);
    set_smem_limit(gdn_block_transitions_kernel, tsmem, "gdn_block_transitions_kernel");
    const dim3 tgrid(
        static_cast<unsigned>((cb.K + kCombCols - 1) / kCombCols),
        static_cast<unsigned>(cb.NB - 1),
        static_cast<unsigned>(bh));
    gdn_block_transitions_kernel<<<tgrid, kCombThreads, tsmem, stream>>>(cb, trans);
    check_launch("gdn_block_transitions_kernel");
  }
}

// Chunk steps on the critical path of the parallel schedule with seg segments per block: waves of CTAs
// (one per SM) times the chunks of a segment; -1 when the last segment would be empty.
int64_t parallel_chain_steps(const GdnShape& s, int sms, int seg) {
  const int64_t nc = chunks_per_block(s), per_seg = (nc + seg - 1) / seg;
  if ((seg - 1) * per_seg >= nc)
    return -1;
  const int64_t nseg = s.num_blocks() * seg;
  const int64_t data_tiles = (s.dim_v + kChainCols - 1) / kChainCols;
  const int64_t id_tiles = nseg > 1 ? (s.dim_k + kChainCols - 1) / kChainCols : 0;
  const int64_t ctas = s.batch * s.heads * (nseg * (data_tiles + id_tiles) - id_tiles);
  return (ctas + sms - 1) / sms * per_seg;
}

int chain_segments(const GdnShape& s, int sms) {
  // More segments fill the last wave better but add identity tiles and combine steps; the first of the
  // fewest chain steps wins.
  int best = 1;
  for (int seg = 2; seg <= kMaxSegments; ++seg) {
    const int64_t steps = parallel_chain_steps(s, sms, seg);
    if (steps >= 0 && steps < parallel_chain_steps(s, sms, best))
      best = seg;
  }
  return best;
}

bool use_seq_chain(const GdnShape& s, int sms) {
  // One block only: with more, the backward needs the M_b that only the parallel schedule makes. Then
  // chain steps on the critical path; a step of the parallel chain (a 64-column tile, A form) measured
  // 1.7 times one of the sequential schedule (16 columns) (H200, K = V = 128).
  const int64_t bh = s.batch * s.heads;
  const int64_t seq_steps = (bh * ((s.dim_v + kSeqCols - 1) / kSeqCols) + sms - 1) / sms * chunks_per_block(s);
  return s.num_blocks() == 1 && 100 * seq_steps <= 170 * parallel_chain_steps(s, sms, chain_segments(s, sms));
}

void launch_chain_seq(const SeqChainArgs& a, bool split, int64_t bh, cudaStream_t stream) {
  if (bh == 0)
    return;
  const size_t smem = WyChainTiles<kSeqCols>::bytes(a.K);
  const dim3 grid(static_cast<unsigned>((a.V + kSeqCols - 1) / kSeqCols), static_cast<unsigned>(bh));
  auto kernel = split ? gdn_chain_seq_kernel<true> : gdn_chain_seq_kernel<false>;
  set_smem_limit(kernel, smem, "gdn_chain_seq_kernel");
  kernel<<<grid, kSeqThreads, smem, stream>>>(a);
  check_launch("gdn_chain_seq_kernel");
}

} // namespace gdn_detail

namespace {

gdn_detail::FwdViews fwd_views(const GdnShape& s) {
  using gdn_detail::FwdViews;
  return gdn_detail::use_seq_chain(s, gdn_detail::sm_count()) ? FwdViews::kSequential : FwdViews::kParallel;
}

} // namespace

size_t gdn_block_scan_fwd_workspace_bytes(const GdnScanFwdParams& p) {
  gdn_detail::check_shape(p.shape, "gdn_block_scan (CUDA)");
  size_t bytes = 0;
  gdn_detail::carve_fwd_workspace(nullptr, p.shape, fwd_views(p.shape), &bytes);
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
  const FwdViews views = fwd_views(s);
  const FwdWorkspace w = carve_fwd_workspace(workspace, s, views, &bytes);
  ARL2_CHECK(workspace != nullptr || bytes == 0, op, ": workspace is null");
  ARL2_CHECK(is_aligned(workspace, 256), op, ": workspace must be 256-byte aligned");

  const bool split = p.dtype == DType::kFloat32;
  const auto* init = static_cast<const float*>(p.initial_state);
  auto* states = static_cast<float*>(p.states);
  auto* final_state = static_cast<float*>(p.final_state);
  auto* trans = static_cast<float*>(p.transitions);
  if (views == FwdViews::kSequential) {
    launch_chunk_prep(prep_args(s, p.k, p.v, p.g, p.beta, w.seq, nullptr), p.dtype, bh, stream);
    launch_chain_seq(seq_chain_args(s, w.seq, init, states, final_state), split, bh, stream);
  } else { // block 0 from the initial state, the others from zero; the combine chains them with the M_b
    const int segments = chain_segments(s, sm_count());
    launch_chunk_prep(prep_factor_args(s, p.k, p.g, p.beta, w.par), p.dtype, bh, stream);
    launch_chunk_chain_a(chain_fwd_args(s, p.k, p.v, w, init, segments), p.dtype, bh, stream);
    launch_combine_fwd(s, w, segments, init, states, final_state, trans, stream);
  }
}

} // namespace arl2::kernels
