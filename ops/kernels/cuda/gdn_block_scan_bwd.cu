// arl2::_gdn_block_scan_backward on CUDA: the chunked backward of ops/specs/gdn_block_scan.md, (13)-(24).
//   1. gdn_chunk_prep_kernel (recompute, also stores A)                    grid (chunk, bh)
//   2. gdn_chunk_chain_kernel from states[b], storing h_in and V_new of every chunk (the transitions
//      M_b come from the forward, so no identity columns)                 grid (column tile x block, bh)
//   3. gdn_combine_bwd_kernel: E_b = d_states[b+1] + M_{b+1}^T E_{b+1}, E_{NB-1} = d_final_state
//                                                                           grid (V column tile, bh)
//   4. gdn_chain_bwd_kernel: reverse chain of every block in parallel from E_b,
//      dh_in = gamma_c dh_out - W^T (Kd dh_out) (14), storing dh_out of every chunk; block 0 ends
//      with d_initial_state = d_states[0] + M_0^T E_0                      grid (V column tile x block, bh)
//   5. gdn_chunk_grad_kernel: (13), (15)-(24) per chunk -> dk, dv, dg, dbeta  grid (chunk, bh)
// One CTA owns each output element: no atomics, deterministic.
#include "../common/check.h"
#include "gdn_chunk_common.cuh"
#include "gdn_cuda.h"

namespace arl2::kernels {
namespace {

using namespace gdn_detail;

constexpr int kCombBwdThreads = 256;
constexpr int kCombBwdCols = 32; // columns of V per combine CTA
constexpr int kRevThreads = ARL2_GDN_CHAIN_THREADS;
constexpr int kRevCols = 32; // columns of V per reverse-chain CTA
#ifndef ARL2_GDN_GRAD_THREADS
#define ARL2_GDN_GRAD_THREADS 512 // a tuning knob: the kernel works for any multiple of 64 threads
#endif
constexpr int kGradThreads = ARL2_GDN_GRAD_THREADS;

// ---------------------------------------------------------------------------------------------
// 3. Combine: one CTA per (32 columns of V, bh), sequential over blocks in reverse (NB >= 1). Always
// 3xTF32.
// Shared memory (floats): sM [2][K][K+4], sDs [2][K][36], sE [2][K][36].
// ---------------------------------------------------------------------------------------------
struct CombineBwdArgs {
  const float* trans;    // [B,NB-1,H,K,K]: M_b of blocks 1..
  const float* d_states; // [B,NB,H,K,V] or null
  const float* d_final;  // [B,H,K,V] or null
  float* E;              // out [BH][NB][K][V]: gradient w.r.t. the state at the end of block b
  int64_t H, NB;
  int K, V;
};

__global__ void __launch_bounds__(kCombBwdThreads) gdn_combine_bwd_kernel(CombineBwdArgs a) {
  extern __shared__ __align__(128) float smem_cbwd[];
  constexpr int ldc = kCombBwdCols + 4;
  const int K = a.K, V = a.V, ldm = K + 4;
  const int c0 = blockIdx.x * kCombBwdCols;
  const int nv = min(kCombBwdCols, V - c0);
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t KV = static_cast<int64_t>(K) * V, KK = static_cast<int64_t>(K) * K;
  float* sM0 = smem_cbwd;
  float* sDs0 = sM0 + 2 * K * ldm;
  float* sE0 = sDs0 + 2 * K * ldc;
  auto sM = [&](int i) { return sM0 + i * K * ldm; };
  auto sDs = [&](int i) { return sDs0 + i * K * ldc; };
  auto sE = [&](int i) { return sE0 + i * K * ldc; };
  // M_b and d_states[b] of block b >= 1 stream in while the product of block b + 1 runs
  auto prefetch = [&](int64_t blk, int buf) {
    cp_async_tile(sM(buf), ldm, a.trans + ((b * (a.NB - 1) + blk - 1) * a.H + h) * KK, K, 0, K, K, K);
    if (a.d_states != nullptr) {
      cp_async_tile(sDs(buf), ldc, a.d_states + ((b * a.NB + blk) * a.H + h) * KV, V, c0, K, kCombBwdCols, nv);
    }
    cp_async_commit();
  };

  // E_{NB-1} = d_final_state (0 when no gradient flows in)
  copy_tile_f32(sE(0), ldc, a.d_final == nullptr ? nullptr : a.d_final + bh * KV + c0, V, K, K, kCombBwdCols, nv);
  if (a.d_states == nullptr) { // no d_states: both addend buffers stay zero
    for (int idx = threadIdx.x; idx < 2 * K * ldc; idx += blockDim.x)
      sDs0[idx] = 0.f;
  }
  if (a.NB > 1)
    prefetch(a.NB - 1, 0);
  int cur = 0;
  for (int64_t blk = a.NB - 1; blk > 0; --blk) {
    const int buf = static_cast<int>((a.NB - 1 - blk) & 1);
    if (blk > 1) { // buffer buf ^ 1 was last read by the previous product, before its barrier
      prefetch(blk - 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads(); // M_b, d_states[b] landed; sE(cur) (written by the previous product) is visible
    store_tile_f32(a.E + (bh * a.NB + blk) * KV + c0, V, sE(cur), ldc, K, nv); // E_b
    // E_{b-1} = d_states[b] + M_b^T E_b; M_b^T is the column-major view of M_b
    block_gemm<1, 4, true, ColMajor, RowMajor>(
        sE(cur ^ 1), ldc, sM(buf), ldm, sE(cur), ldc, K, kCombBwdCols, K, sDs(buf), ldc, 1.f, 1.f);
    __syncthreads();
    cur ^= 1;
  }
  __syncthreads();
  store_tile_f32(a.E + bh * a.NB * KV + c0, V, sE(cur), ldc, K, nv); // E_0
}

size_t gdn_combine_bwd_smem_bytes(int K) {
  constexpr int ldc = kCombBwdCols + 4;
  return sizeof(float) * (2 * static_cast<size_t>(K) * (K + 4) + 4 * K * ldc);
}

// ---------------------------------------------------------------------------------------------
// 4. Reverse chain: one CTA per (32 columns of V, block, bh). The columns of dh are independent in
// (13)-(14), so each CTA walks its block's chunks backward from E_b with dh kept in fp32 shared memory:
//   dh_out[c] = dh;  dV_new = Kd dh (13);  dh = gamma_c dh - W^T dV_new (14).
// Shared memory (floats): sDH [K][40], sW [2][64][K+8], sKd [2][64][K+4], sDV [64][40].
// ---------------------------------------------------------------------------------------------
struct ChainBwdArgs {
  const float* W;
  const float* Kd;
  const float* gam;
  const float* E;        // [BH][NB][K][V]
  const float* d_states; // [B,NB,H,K,V] or null
  float* dhout;          // out [BH][NCH][K][V]
  float* d_init;         // out [B,H,K,V], written by block 0's CTAs
  int64_t H, NB, NC, NCH;
  int K, V;
};

template <bool kSplit>
__global__ void __launch_bounds__(kRevThreads, 1) gdn_chain_bwd_kernel(ChainBwdArgs a) {
  extern __shared__ __align__(128) float smem_rev[];
  constexpr int kCols = kRevCols;
  // ldmatrix operands want ld = 4 (mod 8), scalar-loaded ones ld = 8 (mod 32) (see warp_mma)
  constexpr int ldn = kCols + 8; // dh, dV_new: row-major B operands (scalar loads)
  const int K = a.K, V = a.V;
  const int ldkd = K + 4; // Kd: A operand of (13), row-major (ldmatrix)
  const int ldw = K + 8;  // W: A operand of (14), read column-major (scalar loads)
  const int tiles = (V + kCols - 1) / kCols;
  const int tile = static_cast<int>(blockIdx.x % tiles);
  const int64_t blk = blockIdx.x / tiles;
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int c0 = tile * kCols;
  const int nv = min(kCols, V - c0);
  const int64_t KV = static_cast<int64_t>(K) * V;

  float* sDH = smem_rev;
  float* sW0 = sDH + K * ldn;
  float* sKd0 = sW0 + 2 * kChunk * ldw;
  float* sDV = sKd0 + 2 * kChunk * ldkd;
  auto sW = [&](int i) { return sW0 + i * kChunk * ldw; };
  auto sKd = [&](int i) { return sKd0 + i * kChunk * ldkd; };

  copy_tile_f32(sDH, ldn, a.E + (bh * a.NB + blk) * KV + c0, V, K, K, kCols, nv); // dh_out of the last chunk

  const int64_t chunk0 = bh * a.NCH + blk * a.NC;
  auto prefetch = [&](int64_t c, int buf) {
    const int64_t chunk = chunk0 + c;
    cp_async_tile(sW(buf), ldw, a.W + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_tile(sKd(buf), ldkd, a.Kd + chunk * kChunk * K, K, 0, kChunk, K, K);
    cp_async_commit();
  };
  prefetch(a.NC - 1, 0);
  for (int64_t i = 0; i < a.NC; ++i) {
    const int64_t c = a.NC - 1 - i;
    const int buf = static_cast<int>(i & 1);
    const int64_t chunk = chunk0 + c;
    if (c > 0) { // buffer buf ^ 1 was last read in the previous step, which ended with __syncthreads
      prefetch(c - 1, buf ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    const float gamma_c = a.gam[chunk];
    __syncthreads();
    store_tile_f32(a.dhout + chunk * KV + c0, V, sDH, ldn, K, nv);
    // (13) dV_new = Kd dh_out
    block_gemm<1, kRevThreads >= 512 ? 1 : 2, kSplit, RowMajor, RowMajor>(
        sDV, ldn, sKd(buf), ldkd, sDH, ldn, kChunk, kCols, K);
    __syncthreads();
    // (14) dh_in = gamma_c dh_out - W^T dV_new, as -(-gamma_c dh_out + W^T dV_new); W^T is the column-major
    // view of W. Each warp reads its own dh tile before overwriting it; no other warp reads dh here.
    block_gemm<1, kRevThreads >= 512 ? 2 : 4, kSplit, ColMajor, RowMajor>(
        sDH, ldn, sW(buf), ldw, sDV, ldn, K, kCols, kChunk, sDH, ldn, -gamma_c, -1.f);
    __syncthreads();
  }
  if (blk == 0) { // dh is now M_0^T E_0, the gradient w.r.t. the initial state through the block
    const float* ds0 = a.d_states == nullptr ? nullptr : a.d_states + (b * a.NB * a.H + h) * KV + c0;
    float* out = a.d_init + bh * KV + c0;
    for (TileIter it(nv / 4); it.r < K; it.next()) {
      const int k = it.r, c = it.c * 4;
      float4 x = *reinterpret_cast<const float4*>(sDH + k * ldn + c);
      if (ds0 != nullptr) {
        const float4 d = *reinterpret_cast<const float4*>(ds0 + k * V + c);
        x = make_float4(x.x + d.x, x.y + d.y, x.z + d.z, x.w + d.w);
      }
      *reinterpret_cast<float4*>(out + k * V + c) = x;
    }
  }
}

size_t gdn_chain_bwd_smem_bytes(int K) {
  constexpr int ldn = kRevCols + 8;
  return sizeof(float) * (static_cast<size_t>(K) * ldn + 2 * kChunk * (K + 4) + 2 * kChunk * (K + 8) + kChunk * ldn);
}

// ---------------------------------------------------------------------------------------------
// 5. Per-chunk gradients: one CTA per (chunk, bh), every output row of the chunk written once.
// Shared memory: six slots of 64 x max(K+4, V+4, 136) floats (each holds a 64 x (K|V) tile or two
// 64 x 68 tiles; a K x (V+4) tile spans two), one 64 x 68 tile X, and per-row vectors. Slot use by phase:
//   phase 1: S0-S1 dh_out [K][V+4] | S2 Kd | S3 V_new | S4 dV_new | S5 dKd -> dk accumulator
//   phase 2: S2-S3 h_in [K][V+4]   | S0 dW
//   phase 3: S1 K | S2 V | S3 A + scratch 64x68 | S4 dBv, then dKK + dKK^T | X dA -> P -> P.L
// ---------------------------------------------------------------------------------------------
struct GradArgs {
  const void* k;
  const void* v;
  const float* g;
  const float* beta;
  const float* A;     // [BH][NCH][64][64]
  const float* hin;   // [BH][NCH][K][V]
  const float* dhout; // [BH][NCH][K][V]
  const float* vnew;  // [BH][NCH][64][V]
  void* dk;
  void* dv;
  float* dg;
  float* dbeta;
  int64_t T, H, L, NC, NCH;
  int K, V;
};

__host__ __device__ inline int gdn_grad_slot_floats(int K, int V) {
  const int ld = max(max(K + 4, V + 4), 2 * kLdChunk);
  return kChunk * ld;
}
constexpr int kGradVecs = 7 * kChunk + 32; // sG, sBeta, sGam, sKdS, sS, sDG, sDB + reduction scratch

template <typename T, bool kSplit>
__global__ void __launch_bounds__(kGradThreads, 1) gdn_chunk_grad_kernel(GradArgs a) {
  extern __shared__ __align__(128) float smem_grad[];
  const int64_t q = blockIdx.x;
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / a.H, h = bh % a.H;
  const ChunkPos cp = chunk_pos(q, a.NC, a.L);
  const int rows = cp.rows;
  const int K = a.K, V = a.V, ldk = K + 4, ldv = V + 4;
  constexpr int ldc = kLdChunk;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int nwarps = blockDim.x / kWarp;

  const int slot = gdn_grad_slot_floats(K, V);
  auto S = [&](int i) { return smem_grad + i * slot; };
  float* X = S(6);              // [64][68]
  float* sG = X + kChunk * ldc; // G_r, in-chunk cumsum of g (G_r = G_last on padding rows)
  float* sBeta = sG + kChunk;   // beta_r (0 on padding rows)
  float* sGam = sBeta + kChunk; // gamma_r = exp(G_r) (0 on padding rows)
  float* sKdS = sGam + kChunk;  // exp(G_last - G_r) (0 on padding rows)
  float* sS = sKdS + kChunk;    // s_r = <dKd_r, Kd_r> (22)
  float* sDG = sS + kChunk;     // dG_r
  float* sDB = sDG + kChunk;    // dbeta_r
  float* sRed = sDB + kChunk;   // 32 floats of block-reduction scratch

  const int64_t row0 = (b * a.T + cp.t0) * a.H + h; // row of token t0 in [B, T, H]
  const int64_t chunk = bh * a.NCH + q;
  const int64_t KV = static_cast<int64_t>(K) * V;
  const T* kin = static_cast<const T*>(a.k) + row0 * K;
  const T* vin = static_cast<const T*>(a.v) + row0 * V;

  // ---- phase 1: dV_new and dKd (13)
  float* sDH = S(0);  // [K][V+4], spans S0-S1
  float* sKd = S(2);  // [64][K+4]
  float* sVn = S(3);  // [64][V+4]
  float* sDVn = S(4); // [64][V+4]  dV_new = dU, later dBv, later dKK + dKK^T
  float* sDK = S(5);  // [64][K+4]  dKd, then the dk accumulator
  cp_async_tile(sDH, ldv, a.dhout + chunk * KV, V, 0, K, V, V);
  cp_async_tile(sVn, ldv, a.vnew + chunk * kChunk * V, V, 0, kChunk, V, V);
  cp_async_commit();
  load_chunk_gates(sG, sBeta, a.g + row0, a.beta + row0, a.H, rows); // ends with __syncthreads
  const float g_last = sG[rows - 1];
  if (threadIdx.x < kChunk) {
    const int r = threadIdx.x;
    sGam[r] = r < rows ? expf(sG[r]) : 0.f;
    sKdS[r] = r < rows ? expf(g_last - sG[r]) : 0.f;
  }
  __syncthreads();
  // Kd_r = exp(G_c - G_r) k_r, the same fp32 products as the prep kernel's
  load_tile_f32<T>(sKd, ldk, kin, a.H * K, rows, kChunk, K, K, [&](int r) { return sKdS[r]; });
  cp_async_wait<0>();
  __syncthreads();
  block_gemm_wide<kSplit, RowMajor, RowMajor>(sDVn, ldv, sKd, ldk, sDH, ldv, kChunk, V, K);
  block_gemm_wide<kSplit, RowMajor, ColMajor>(sDK, ldk, sVn, ldv, sDH, ldv, kChunk, K, V);
  __syncthreads();

  // ---- phase 2: (22) s_r and dk_r = exp(G_c - G_r) dKd_r; (13) dgamma_c; (15) dW
  for (int r = warp; r < kChunk; r += nwarps) {
    float s = 0.f;
    for (int c = lane; c < K; c += kWarp)
      s = fmaf(sDK[r * ldk + c], sKd[r * ldk + c], s);
    s = warp_sum(s); // every lane's reads of row r are done before any lane rescales it below
    if (lane == 0)
      sS[r] = s;
    for (int c = lane; c < K; c += kWarp)
      sDK[r * ldk + c] *= sKdS[r];
  }
  __syncthreads();    // Kd and V_new are dead: S2-S3 take h_in
  float* sHin = S(2); // [K][V+4], spans S2-S3
  cp_async_tile(sHin, ldv, a.hin + chunk * KV, V, 0, K, V, V);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
  float part = 0.f;
  for (TileIter it(V); it.r < K; it.next())
    part = fmaf(sHin[it.r * ldv + it.c], sDH[it.r * ldv + it.c], part);
  const float dgamma = block_sum(part, sRed); // (13) <h_in, dh_out>; its barriers end every read of dh_out
  float* sDW = S(0);                          // [64][K+4] over dead dh_out
  // (15) dW = -dV_new h_in^T (h_in^T is the column-major view of h_in)
  block_gemm_wide<kSplit, RowMajor, ColMajor>(sDW, ldk, sDVn, ldv, sHin, ldv, kChunk, K, V, nullptr, 0, 1.f, -1.f);
  __syncthreads(); // h_in is dead

  // ---- phase 3: WY backward (16)-(21)
  float* sKf = S(1);                // [64][K+4] K (fp32)
  float* sVf = S(2);                // [64][V+4] V (fp32)
  float* sA = S(3);                 // [64][68]  A
  float* sX2 = S(3) + kChunk * ldc; // [64][68]  scratch
  cp_async_tile(sA, ldc, a.A + chunk * kChunk * kChunk, kChunk, 0, kChunk, kChunk, kChunk);
  cp_async_commit();
  load_tile_f32<T>(sKf, ldk, kin, a.H * K, rows, kChunk, K, K);
  load_tile_f32<T>(sVf, ldv, vin, a.H * V, rows, kChunk, V, V);
  cp_async_wait<0>();
  __syncthreads();
  // (16) dA = dU (diag(beta) V)^T + dW (diag(beta gamma) K)^T: dA_ij = beta_j ((dU V^T)_ij + gamma_j (dW K^T)_ij)
  block_gemm<1, 4, kSplit, RowMajor, ColMajor>(X, ldc, sDVn, ldv, sVf, ldv, kChunk, kChunk, V);
  block_gemm<1, 4, kSplit, RowMajor, ColMajor>(sX2, ldc, sDW, ldk, sKf, ldk, kChunk, kChunk, K);
  __syncthreads();
  for (int idx = threadIdx.x; idx < kChunk * kChunk; idx += blockDim.x) {
    const int i = idx / kChunk, j = idx % kChunk;
    X[i * ldc + j] = sBeta[j] * fmaf(sGam[j], sX2[i * ldc + j], X[i * ldc + j]);
  }
  __syncthreads();
  // (17) dBv = A^T dU and (18) dBk = A^T dW, in place (A^T is the column-major view of A; FM = 4 covers all
  // 64 rows, so each warp reads only the 16 columns it writes and writes after its last read)
  block_gemm<4, 2, kSplit, ColMajor, RowMajor>(sDVn, ldv, sA, ldc, sDVn, ldv, kChunk, V, kChunk);
  block_gemm<4, 2, kSplit, ColMajor, RowMajor>(sDW, ldk, sA, ldc, sDW, ldk, kChunk, K, kChunk);
  __syncthreads();
  // Row pass: (17) dv = beta dBv, dbeta = rowsum(dBv . V); (18) dk += beta gamma dBk,
  // dbeta += gamma rowsum(dBk . K), dG = gamma beta rowsum(dBk . K). (22)'s s terms join in the gate tail.
  for (int r = warp; r < kChunk; r += nwarps) {
    const float br = sBeta[r], gr = sGam[r];
    float rv = 0.f, rk = 0.f;
    for (int c = lane; c < V; c += kWarp) {
      const float x = sDVn[r * ldv + c];
      rv = fmaf(x, sVf[r * ldv + c], rv);
      sDVn[r * ldv + c] = br * x; // dv
    }
    for (int c = lane; c < K; c += kWarp) {
      const float x = sDW[r * ldk + c];
      rk = fmaf(x, sKf[r * ldk + c], rk);
      sDK[r * ldk + c] = fmaf(br * gr, x, sDK[r * ldk + c]);
    }
    rv = warp_sum(rv);
    rk = warp_sum(rk);
    if (lane == 0) {
      sDB[r] = fmaf(gr, rk, rv);
      sDG[r] = gr * br * rk;
    }
  }
  __syncthreads();
  store_tile<T>(static_cast<T*>(a.dv) + row0 * V, a.H * V, sDVn, ldv, rows, V, 1.f);
  // (19) P = StrictLower(-A^T dA A^T): sX2 = A^T dA (A^T upper triangular), X = -(sX2 A^T)
  block_gemm<1, 4, kSplit, ColMajor, RowMajor, Tri::kUpper>(sX2, ldc, sA, ldc, X, ldc, kChunk, kChunk, kChunk);
  __syncthreads();
  block_gemm<1, 4, kSplit, RowMajor, ColMajor>(
      X, ldc, sX2, ldc, sA, ldc, kChunk, kChunk, kChunk, nullptr, 0, 1.f, -1.f);
  __syncthreads();
  // KK^T
  block_gemm<1, 4, kSplit, RowMajor, ColMajor>(sX2, ldc, sKf, ldk, sKf, ldk, kChunk, kChunk, K);
  __syncthreads();
  // (20), (21) on the strict lower valid part j < i < rows (P is zero elsewhere by the StrictLower):
  //   Gam = exp(G_i - G_j) (i > j only), dKK_ij = P_ij beta_i Gam -> sX2, (P.L)_ij = P_ij beta_i KK_ij Gam -> X,
  //   dbeta_i += sum_j P_ij KK_ij Gam, dG_i += sum_j (P.L)_ij (row sums here, column sums below)
  for (int i = warp; i < kChunk; i += nwarps) {
    const float bi = sBeta[i], gi = sG[i];
    float rb = 0.f, rq = 0.f;
    for (int j = lane; j < kChunk; j += kWarp) {
      float dkk = 0.f, pl = 0.f;
      if (j < i && i < rows) {
        const float gam_ij = expf(gi - sG[j]);
        const float p = X[i * ldc + j];
        const float pkk = p * sX2[i * ldc + j] * gam_ij;
        rb += pkk;
        pl = bi * pkk;
        dkk = p * bi * gam_ij;
      }
      rq += pl;
      sX2[i * ldc + j] = dkk;
      X[i * ldc + j] = pl;
    }
    rb = warp_sum(rb);
    rq = warp_sum(rq);
    if (lane == 0) {
      sDB[i] += rb;
      sDG[i] += rq;
    }
  }
  __syncthreads();
  // (21) dG_j -= sum_i (P.L)_ij  (fixed order, fp32); (20) Ssym = dKK + dKK^T -> S4 as [64][68]
  float* sSym = S(4);
  if (threadIdx.x < kChunk) {
    const int j = threadIdx.x;
    float cs = 0.f;
    for (int i = 0; i < kChunk; ++i)
      cs += X[i * ldc + j];
    sDG[j] -= cs;
  }
  for (int idx = threadIdx.x; idx < kChunk * kChunk; idx += blockDim.x) {
    const int i = idx / kChunk, j = idx % kChunk;
    sSym[i * ldc + j] = sX2[i * ldc + j] + sX2[j * ldc + i];
  }
  __syncthreads();
  // (20) dk += (dKK + dKK^T) K
  block_gemm_wide<kSplit, RowMajor, RowMajor>(sDK, ldk, sSym, ldc, sKf, ldk, kChunk, K, kChunk, sDK, ldk, 1.f, 1.f);
  // ---- gate tail in warp 0: (23) dG_c += gamma_c dgamma_c, (24) dg_r = sum_{j>=r} dG_j, and (22), which
  // adds sum_r s_r to dG_c and takes s_r from dG_r, as its share of dg_r: the exclusive prefix sum
  // sum_{j<r} s_j. Summed directly, never as a difference: s_c carries no decay and can be 1e4 times what
  // survives of it (ops/kernels/cuda/NOTES.md, "float32 dg under strong decay").
  if (warp == 0) {
    const int r0 = 2 * lane, r1 = 2 * lane + 1;
    float d0 = r0 < rows ? sDG[r0] : 0.f;
    float d1 = r1 < rows ? sDG[r1] : 0.f;
    const float tail = sGam[rows - 1] * dgamma;
    if (r0 == rows - 1)
      d0 += tail;
    if (r1 == rows - 1)
      d1 += tail;
    // suffix sums over lanes of the pair sums
    const float pair = d0 + d1;
    float incl = pair;
#pragma unroll
    for (int o = 1; o < kWarp; o <<= 1) {
      const float y = __shfl_down_sync(0xffffffffu, incl, o);
      if (lane + o < kWarp)
        incl += y;
    }
    float after = __shfl_down_sync(0xffffffffu, incl, 1); // sum over rows > r1
    if (lane == kWarp - 1)
      after = 0.f;
    // prefix sums up the lanes of the pair sums of s (zero on padding rows)
    const float s0 = sS[r0], s1 = sS[r1];
    float s_incl = s0 + s1;
#pragma unroll
    for (int o = 1; o < kWarp; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, s_incl, o);
      if (lane >= o)
        s_incl += y;
    }
    float s_before = __shfl_up_sync(0xffffffffu, s_incl, 1); // sum over rows < r0
    if (lane == 0)
      s_before = 0.f;
    const float rest1 = d1 + after; // dg_r1 but for s
    const float dg0 = (d0 + rest1) + s_before;
    const float dg1 = rest1 + (s_before + s0);
    if (r0 < rows) {
      a.dg[row0 + r0 * a.H] = dg0;
      a.dbeta[row0 + r0 * a.H] = sDB[r0];
    }
    if (r1 < rows) {
      a.dg[row0 + r1 * a.H] = dg1;
      a.dbeta[row0 + r1 * a.H] = sDB[r1];
    }
  }
  __syncthreads();
  store_tile<T>(static_cast<T*>(a.dk) + row0 * K, a.H * K, sDK, ldk, rows, K, 1.f);
}

size_t gdn_grad_smem_bytes(int K, int V) {
  return sizeof(float) * (6 * static_cast<size_t>(gdn_grad_slot_floats(K, V)) + kChunk * kLdChunk + kGradVecs);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------------------------
namespace gdn_detail {

void launch_combine_bwd(
    const GdnShape& s, const float* trans, const float* d_states, const float* d_final, float* E, cudaStream_t stream) {
  const int64_t bh = s.batch * s.heads;
  if (bh == 0 || s.num_blocks() == 0)
    return;
  CombineBwdArgs cb;
  cb.trans = trans;
  cb.d_states = d_states;
  cb.d_final = d_final;
  cb.E = E;
  cb.H = s.heads;
  cb.NB = s.num_blocks();
  cb.K = static_cast<int>(s.dim_k);
  cb.V = static_cast<int>(s.dim_v);
  const size_t smem = gdn_combine_bwd_smem_bytes(cb.K);
  set_smem_limit(gdn_combine_bwd_kernel, smem, "gdn_combine_bwd_kernel");
  const dim3 grid(static_cast<unsigned>((cb.V + kCombBwdCols - 1) / kCombBwdCols), static_cast<unsigned>(bh));
  gdn_combine_bwd_kernel<<<grid, kCombBwdThreads, smem, stream>>>(cb);
  check_launch("gdn_combine_bwd_kernel");
}

void launch_chain_bwd(
    const GdnShape& s, const BwdWorkspace& w, const float* d_states, float* d_init, bool split, cudaStream_t stream) {
  const int64_t bh = s.batch * s.heads;
  const int64_t nb = s.num_blocks();
  if (nb == 0 || bh == 0)
    return;
  ChainBwdArgs rv;
  rv.W = w.chunks.W;
  rv.Kd = w.chunks.Kd;
  rv.gam = w.chunks.gam;
  rv.E = w.E;
  rv.d_states = d_states;
  rv.dhout = w.dhout;
  rv.d_init = d_init;
  rv.H = s.heads;
  rv.NB = nb;
  rv.NC = chunks_per_block(s);
  rv.NCH = nb * rv.NC;
  rv.K = static_cast<int>(s.dim_k);
  rv.V = static_cast<int>(s.dim_v);
  const int64_t tiles = (rv.V + kRevCols - 1) / kRevCols;
  ARL2_CHECK(nb * tiles < (int64_t{1} << 31), "gdn reverse chain: too many blocks for one grid");
  const size_t smem = gdn_chain_bwd_smem_bytes(rv.K);
  auto kernel = split ? gdn_chain_bwd_kernel<true> : gdn_chain_bwd_kernel<false>;
  set_smem_limit(kernel, smem, "gdn_chain_bwd_kernel");
  kernel<<<dim3(static_cast<unsigned>(nb * tiles), static_cast<unsigned>(bh)), kRevThreads, smem, stream>>>(rv);
  check_launch("gdn_chain_bwd_kernel");
}

void launch_chunk_grad(const GdnScanBwdParams& p, const BwdWorkspace& w, cudaStream_t stream) {
  const GdnShape& s = p.shape;
  const int64_t bh = s.batch * s.heads;
  const int64_t nc = chunks_per_block(s);
  const int64_t nch = s.num_blocks() * nc;
  if (nch == 0 || bh == 0)
    return;
  GradArgs ga;
  ga.k = p.k;
  ga.v = p.v;
  ga.g = static_cast<const float*>(p.g);
  ga.beta = static_cast<const float*>(p.beta);
  ga.A = w.A;
  ga.hin = w.hin;
  ga.dhout = w.dhout;
  ga.vnew = w.vnew;
  ga.dk = p.dk;
  ga.dv = p.dv;
  ga.dg = static_cast<float*>(p.dg);
  ga.dbeta = static_cast<float*>(p.dbeta);
  ga.T = s.seqlen;
  ga.H = s.heads;
  ga.L = s.block_len;
  ga.NC = nc;
  ga.NCH = nch;
  ga.K = static_cast<int>(s.dim_k);
  ga.V = static_cast<int>(s.dim_v);
  ARL2_CHECK(nch < (int64_t{1} << 31), "gdn chunk grad: too many chunks for one grid");
  const size_t smem = gdn_grad_smem_bytes(ga.K, ga.V);
  dispatch_dtype(p.dtype, "gdn chunk grad", [&](auto tag) {
    using T = decltype(tag);
    auto kernel = gdn_chunk_grad_kernel<T, std::is_same_v<T, float>>;
    set_smem_limit(kernel, smem, "gdn_chunk_grad_kernel");
    kernel<<<dim3(static_cast<unsigned>(nch), static_cast<unsigned>(bh)), kGradThreads, smem, stream>>>(ga);
    check_launch("gdn_chunk_grad_kernel");
  });
}

} // namespace gdn_detail

size_t gdn_block_scan_bwd_workspace_bytes(const GdnScanBwdParams& p) {
  gdn_detail::check_shape(p.shape, "_gdn_block_scan_backward (CUDA)");
  size_t bytes = 0;
  carve_bwd_workspace(nullptr, p.shape, &bytes);
  return bytes;
}

void gdn_block_scan_bwd_cuda(const GdnScanBwdParams& p, void* workspace, cudaStream_t stream) {
  const char* op = "_gdn_block_scan_backward (CUDA)";
  const GdnShape& s = p.shape;
  check_shape(s, op);
  const int64_t bh = s.batch * s.heads;
  if (bh == 0)
    return;
  const int64_t nb = s.num_blocks();
  check_tensor_ptr(p.d_initial_state, "d_initial_state", op, true);
  check_tensor_ptr(p.d_final_state, "d_final_state", op, false);
  check_tensor_ptr(p.d_states, "d_states", op, false);
  if (nb > 0) {
    check_tensor_ptr(p.k, "k", op, true);
    check_tensor_ptr(p.v, "v", op, true);
    check_tensor_ptr(p.g, "g", op, true);
    check_tensor_ptr(p.beta, "beta", op, true);
    check_tensor_ptr(p.states, "states", op, true);
    check_tensor_ptr(p.transitions, "transitions", op, nb > 1);
    check_tensor_ptr(p.dk, "dk", op, true);
    check_tensor_ptr(p.dv, "dv", op, true);
    check_tensor_ptr(p.dg, "dg", op, true);
    check_tensor_ptr(p.dbeta, "dbeta", op, true);
  }
  size_t bytes = 0;
  const BwdWorkspace w = carve_bwd_workspace(workspace, s, &bytes);
  ARL2_CHECK(workspace != nullptr || bytes == 0, op, ": workspace is null");
  ARL2_CHECK(is_aligned(workspace, 256), op, ": workspace must be 256-byte aligned");
  const bool split = p.dtype == DType::kFloat32;

  const auto* d_states = static_cast<const float*>(p.d_states);
  const auto* d_final = static_cast<const float*>(p.d_final_state);
  auto* d_init = static_cast<float*>(p.d_initial_state);
  if (nb == 0) { // no tokens: the state passes through unchanged
    const size_t state_bytes = static_cast<size_t>(bh * s.dim_k * s.dim_v) * sizeof(float);
    const cudaError_t e = d_final != nullptr
                              ? cudaMemcpyAsync(d_init, d_final, state_bytes, cudaMemcpyDeviceToDevice, stream)
                              : cudaMemsetAsync(d_init, 0, state_bytes, stream);
    ARL2_CHECK(e == cudaSuccess, op, ": copying d_final_state failed: ", cudaGetErrorString(e));
    return;
  }

  // 1. recompute W, U, Kd, gamma_c and keep A
  launch_chunk_prep(prep_args(s, p.k, p.v, p.g, p.beta, w.chunks, w.A), p.dtype, bh, stream);

  // 2. recompute every block's chain from states[b]: h_in, V_new of every chunk
  launch_chunk_chain(chain_bwd_args(s, w, static_cast<const float*>(p.states)), split, bh, stream);

  // 3. E_b from the forward's transitions
  launch_combine_bwd(s, static_cast<const float*>(p.transitions), d_states, d_final, w.E, stream);

  // 4. reverse chains, every block in parallel; block 0's give d_initial_state
  launch_chain_bwd(s, w, d_states, d_init, split, stream);

  // 5. per-chunk gradients
  launch_chunk_grad(p, w, stream);
}

} // namespace arl2::kernels
