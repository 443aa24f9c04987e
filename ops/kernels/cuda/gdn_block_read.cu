// arl2::gdn_block_read on CUDA: every token of block i reads the state before the block,
//   (4)  o_t = scale * states[i]^T q_t                      (states[i] is K x V, fla's h = S^T)
// or, gated (hybrid_attention's (3) in the read's epilogue), o_t = residual_t + gate_t * (4);
// and its backward
//   dq_t = scale * states[i] do_t,   d_states[i] = scale * sum_{t in block i} q_t do_t^T.
// Both are plain GEMMs on tensor cores (tf32, 3xTF32 for float32 inputs) over fp32 shared tiles.
#include <algorithm>

#include "../common/check.h"
#include "gdn_chunk_common.cuh"
#include "gdn_cuda.h"

namespace arl2::kernels {
namespace {

using namespace gdn_detail;

constexpr int kRdThreads = 256;    // 8 warps; the d_states kernel's fragment map assumes exactly 8
constexpr int kRdTile = 64;        // output columns per CTA, tokens per sub-tile
constexpr int kRdLd = kRdTile + 4; // 64-wide fp32 tiles read by ldmatrix: ld = 4 (mod 8)
constexpr int kDsLd = kRdTile + 8; // d_states tiles, read by scalar fragment loads: ld = 8 (mod 32)

struct ReadOutArgs {
  const void* x;        // q [B,T,H,K] (forward) or d_o [B,T,H,V] (backward)
  const float* states;  // [B,NB,H,K,V]
  void* out;            // o [B,T,H,V] (forward) or dq [B,T,H,K] (backward)
  const void* residual; // gated forward: o = residual + gate * (4), residual [B,T,H,V]
  const void* gate;     // gated forward: [B,T,H]
  int64_t T, H, L, NB;
  int K, V;
  int D; // reduction length: K forward, V backward
  int N; // output row length: V forward, K backward
  int col_tiles, token_groups;
  int sub_tiles; // 64-token sub-tiles per CTA (read_sub_tiles): one state-tile load serves them all
  float scale;
};

// Register staging of one 64-row token tile of up to kMaxHeadDim columns as raw 16-byte vectors: the next
// tile's global loads stay in flight while the tensor cores work on the current one, and are converted
// only when stored to shared memory. Slot u of a thread is the TileIter position u of a 64 x ncols grid of
// vectors; ncols is a multiple of kVec<T>.
template <typename T>
struct StageTile {
  static constexpr int VE = kVec<T>;
  static constexpr int kVecs = kRdTile * kMaxHeadDim / VE / kRdThreads; // slots per thread
  uint4 raw[kVecs];

  // rows [0, rows) x columns [0, cols_valid) of the tile whose row r starts at src + r * stride; zeros elsewhere
  __device__ __forceinline__ void load(const T* src, int64_t stride, int rows, int ncols, int cols_valid) {
    TileIter it(ncols / VE);
#pragma unroll
    for (int u = 0; u < kVecs; ++u) {
      const int c = it.c * VE;
      raw[u] = it.r < rows && c < cols_valid ? *reinterpret_cast<const uint4*>(src + it.r * stride + c)
                                             : make_uint4(0, 0, 0, 0);
      it.next();
    }
  }
  // the whole 64 x ncols tile, in fp32, to shared memory (row r at dst + r * ld)
  __device__ __forceinline__ void store(float* dst, int ld, int ncols) const {
    TileIter it(ncols / VE);
#pragma unroll
    for (int u = 0; u < kVecs; ++u) {
      if (it.r < kRdTile) {
        float x[VE];
        unpack16<T>(raw[u], x);
        st_f32(dst + it.r * ld + it.c * VE, x);
      }
      it.next();
    }
  }
};

// The gated forward's epilogue, o = residual + gate * (scale S^T q), for one 64 x 64 output tile: residual
// and gate are loaded into registers before the tile's GEMM, so their latency hides behind it.
template <typename T>
struct GatedEpilogue {
  StageTile<T> residual;
  float gate[StageTile<T>::kVecs];

  // R, G, O: the tile's first row of residual, gate and o; rows advance by stride (residual, o) and
  // gate_stride (gate)
  __device__ __forceinline__ void load(
      const T* R, const T* G, int64_t stride, int64_t gate_stride, int rows, int cols_valid) {
    residual.load(R, stride, rows, kRdTile, cols_valid);
    TileIter it(kRdTile / StageTile<T>::VE);
#pragma unroll
    for (int u = 0; u < StageTile<T>::kVecs; ++u) {
      gate[u] = it.r < rows ? to_f32(G[it.r * gate_stride]) : 0.f;
      it.next();
    }
  }
  __device__ __forceinline__ void store(T* O, int64_t stride, const float* sO, int ld, int rows, int cols_valid) const {
    constexpr int VE = StageTile<T>::VE;
    TileIter it(kRdTile / VE);
#pragma unroll
    for (int u = 0; u < StageTile<T>::kVecs; ++u) {
      const int c = it.c * VE;
      if (it.r < rows && c < cols_valid) {
        float x[VE], r[VE];
        ld_f32(sO + it.r * ld + c, x);
        unpack16<T>(residual.raw[u], r);
#pragma unroll
        for (int i = 0; i < VE; ++i)
          x[i] = r[i] + gate[u] * x[i];
        kernels::store<T, VE>(O + it.r * stride + c, x);
      }
      it.next();
    }
  }
};

// One CTA: output columns [c0, c0 + 64) of up to sub_tiles 64-token sub-tiles of one block of one (b, h).
//   forward  (4): o[t][j]  = scale * sum_k q[t][k] S[k][j]   -> B(k, j) = S[k][c0 + j]      (row-major tile)
//   backward    : dq[t][k] = scale * sum_v do[t][v] S[k][v]  -> B(v, j) = S[c0 + j][v]      (S rows, read transposed)
template <typename T, bool kSplit, bool kBackward, bool kGated>
__global__ void __launch_bounds__(kRdThreads) gdn_read_out_kernel(ReadOutArgs a) {
  static_assert(!(kBackward && kGated), "the gate belongs to the forward");
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

  const T* X = static_cast<const T*>(a.x);
  T* O = static_cast<T*>(a.out);
  const int64_t ntiles = (a.L + kRdTile - 1) / kRdTile;
  const int64_t s_begin = static_cast<int64_t>(tg) * a.sub_tiles;
  const int64_t s_end = min64(ntiles, s_begin + a.sub_tiles);
  auto tile_rows = [&](int64_t s) { return static_cast<int>(min64(kRdTile, a.L - s * kRdTile)); };
  // token row index of the sub-tile's first token in [B, T, H]
  auto tile_row0 = [&](int64_t s) { return (b * a.T + blk * a.L + s * kRdTile) * a.H + h; };

  StageTile<T> stage;
  stage.load(X + tile_row0(s_begin) * a.D, a.H * a.D, tile_rows(s_begin), a.D, a.D);
  const float* S = a.states + ((b * a.NB + blk) * a.H + h) * a.K * a.V;
  if constexpr (kBackward) {
    // rows c0 .. c0+63 of S (rows >= K are dead: zero), all V columns
    copy_tile_f32(sB, ldb, S + static_cast<int64_t>(c0) * a.V, a.V, kRdTile, ncols_valid, a.V, a.V);
  } else {
    // all K rows of S, columns c0 .. c0+63 (columns >= V are dead: zero)
    copy_tile_f32(sB, ldb, S + c0, a.V, a.K, a.K, kRdTile, ncols_valid);
  }

  for (int64_t s = s_begin; s < s_end; ++s) {
    const int rows = tile_rows(s);
    const int64_t row0 = tile_row0(s);
    // sX is free: the previous GEMM finished reading it before the __syncthreads that preceded its epilogue.
    stage.store(sX, ldx, a.D);
    __syncthreads();
    if (s + 1 < s_end) {
      stage.load(X + tile_row0(s + 1) * a.D, a.H * a.D, tile_rows(s + 1), a.D, a.D);
    }
    [[maybe_unused]] GatedEpilogue<T> gated;
    if constexpr (kGated) {
      gated.load(
          static_cast<const T*>(a.residual) + row0 * a.N + c0,
          static_cast<const T*>(a.gate) + row0,
          a.H * a.N,
          a.H,
          rows,
          ncols_valid);
    }
    if constexpr (kBackward) {
      block_gemm<1, 4, kSplit, RowMajor, ColMajor>(
          sO, kRdLd, sX, ldx, sB, ldb, kRdTile, kRdTile, a.D, nullptr, 0, 1.f, a.scale);
    } else {
      block_gemm<1, 4, kSplit, RowMajor, RowMajor>(
          sO, kRdLd, sX, ldx, sB, ldb, kRdTile, kRdTile, a.D, nullptr, 0, 1.f, a.scale);
    }
    __syncthreads();
    if constexpr (kGated) {
      gated.store(O + row0 * a.N + c0, a.H * a.N, sO, kRdLd, rows, ncols_valid);
    } else {
      store_tile<T>(O + row0 * a.N + c0, a.H * a.N, sO, kRdLd, rows, ncols_valid, 1.f);
    }
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
  stq.load(Q + tile_row0(0) * a.K + k0, a.H * a.K, tile_rows(0), kRdTile, nk);
  std_.load(DO + tile_row0(0) * a.V + v0, a.H * a.V, tile_rows(0), kRdTile, nv);
  stq.store(sQ(0), kDsLd, kRdTile);
  std_.store(sD(0), kDsLd, kRdTile);
  __syncthreads();

  // Warp w owns output rows [16 (w / 2), +16) and columns [32 (w % 2), +32) of the 64 x 64 tile.
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int i0 = (warp / 2) * 16, j0 = (warp % 2) * 32;
  float acc[1][4][4] = {};
  for (int64_t s = 0; s < ntiles; ++s) {
    const int cur = static_cast<int>(s & 1);
    const bool more = s + 1 < ntiles;
    if (more) {
      stq.load(Q + tile_row0(s + 1) * a.K + k0, a.H * a.K, tile_rows(s + 1), kRdTile, nk);
      std_.load(DO + tile_row0(s + 1) * a.V + v0, a.H * a.V, tile_rows(s + 1), kRdTile, nv);
    }
    // acc += Q^T dO over this tile's 64 tokens (padding tokens are zero rows in both); Q^T is the
    // column-major view of the [tokens][k] tile
    warp_mma<1, 4, kSplit, ColMajor, RowMajor>(acc, sQ(cur), kDsLd, sD(cur), kDsLd, i0, j0, 0, kRdTile);
    if (more) {
      // buffer cur ^ 1 was last read in iteration s - 1, before the __syncthreads that ended it
      stq.store(sQ(cur ^ 1), kDsLd, kRdTile);
      std_.store(sD(cur ^ 1), kDsLd, kRdTile);
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

// The fields of a read-out launch that come from the shape: forward (o from q, D = K) or backward (dq from
// d_o, D = V).
ReadOutArgs read_out_args(const GdnShape& s, bool backward) {
  ReadOutArgs a{};
  a.T = s.seqlen;
  a.H = s.heads;
  a.L = s.block_len;
  a.NB = s.num_blocks();
  a.K = static_cast<int>(s.dim_k);
  a.V = static_cast<int>(s.dim_v);
  a.D = backward ? a.V : a.K;
  a.N = backward ? a.K : a.V;
  a.col_tiles = (a.N + kRdTile - 1) / kRdTile;
  return a;
}

// Sub-tiles per CTA with the least modelled time: waves of CTAs x (sub-tiles + one for the state tile's
// load). Long CTAs load the state tile less often; a last, partly filled wave costs a whole one.
int read_sub_tiles(int64_t ntiles, int64_t ctas_per_group, int64_t slots) {
  int64_t best = 1, best_cost = -1;
  for (int64_t sub = 1; sub <= ntiles; ++sub) {
    const int64_t groups = (ntiles + sub - 1) / sub;
    const int64_t waves = (groups * ctas_per_group + slots - 1) / slots;
    const int64_t cost = waves * (sub + 1);
    if (best_cost < 0 || cost < best_cost) {
      best = sub;
      best_cost = cost;
    }
  }
  return static_cast<int>(best);
}

template <typename T, bool kSplit, bool kBackward, bool kGated>
void launch_read_out(ReadOutArgs a, int64_t bh, cudaStream_t stream, const char* name) {
  auto kernel = gdn_read_out_kernel<T, kSplit, kBackward, kGated>;
  const size_t tile_b = kBackward ? static_cast<size_t>(kRdTile) * (a.V + 4) : static_cast<size_t>(a.K) * kRdLd;
  const size_t smem = sizeof(float) * (tile_b + kRdTile * (a.D + 4) + kRdTile * kRdLd);
  set_smem_limit(kernel, smem, name);
  int per_sm = 0;
  ARL2_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kRdThreads, smem) == cudaSuccess,
      "cudaOccupancyMaxActiveBlocksPerMultiprocessor failed for ",
      name);
  const int64_t ntiles = (a.L + kRdTile - 1) / kRdTile;
  const int64_t ctas_per_group = a.NB * a.col_tiles * bh;
  a.sub_tiles = read_sub_tiles(ntiles, ctas_per_group, static_cast<int64_t>(std::max(per_sm, 1)) * sm_count());
  a.token_groups = static_cast<int>((ntiles + a.sub_tiles - 1) / a.sub_tiles);
  const int64_t gx = a.NB * a.token_groups * a.col_tiles;
  ARL2_CHECK(gx < (int64_t{1} << 31), name, ": problem too large for one grid");
  kernel<<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(bh)), kRdThreads, smem, stream>>>(a);
  check_launch(name);
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
  const bool gated = p.gate != nullptr;
  ARL2_CHECK((p.residual != nullptr) == gated, op, ": residual and gate come together");

  ReadOutArgs a = read_out_args(s, /*backward=*/false);
  a.x = p.q;
  a.states = static_cast<const float*>(p.states);
  a.out = p.o;
  a.residual = p.residual;
  a.gate = p.gate;
  a.scale = static_cast<float>(p.scale);
  dispatch_dtype(p.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool kSplit = std::is_same_v<T, float>;
    if (gated) {
      launch_read_out<T, kSplit, false, true>(a, s.batch * s.heads, stream, "gdn_read_out_kernel<gated>");
    } else {
      launch_read_out<T, kSplit, false, false>(a, s.batch * s.heads, stream, "gdn_read_out_kernel<fwd>");
    }
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

  // dq = scale * states[i] do
  ReadOutArgs a = read_out_args(s, /*backward=*/true);
  a.x = p.d_o;
  a.states = static_cast<const float*>(p.states);
  a.out = p.dq;
  a.scale = static_cast<float>(p.scale);

  // d_states = scale * sum_t q_t do_t^T
  ReadDStatesArgs d;
  d.q = p.q;
  d.d_o = p.d_o;
  d.d_states = static_cast<float*>(p.d_states);
  d.T = s.seqlen;
  d.H = s.heads;
  d.L = s.block_len;
  d.NB = s.num_blocks();
  d.K = a.K;
  d.V = a.V;
  d.k_tiles = (d.K + kRdTile - 1) / kRdTile;
  d.v_tiles = (d.V + kRdTile - 1) / kRdTile;
  d.scale = a.scale;
  const int64_t gxd = d.NB * d.k_tiles * d.v_tiles;
  ARL2_CHECK(gxd < (int64_t{1} << 31), op, ": problem too large for one grid");
  const size_t smem_ds = sizeof(float) * 4 * kRdTile * kDsLd;
  const unsigned bh = static_cast<unsigned>(s.batch * s.heads);

  dispatch_dtype(p.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool kSplit = std::is_same_v<T, float>;
    launch_read_out<T, kSplit, true, false>(a, s.batch * s.heads, stream, "gdn_read_out_kernel<bwd>");

    auto k_ds = gdn_read_dstates_kernel<T, kSplit>;
    set_smem_limit(k_ds, smem_ds, "gdn_read_dstates_kernel");
    k_ds<<<dim3(static_cast<unsigned>(gxd), bh), dim3(kRdThreads), smem_ds, stream>>>(d);
    check_launch("gdn_read_dstates_kernel");
  });
}

} // namespace arl2::kernels
