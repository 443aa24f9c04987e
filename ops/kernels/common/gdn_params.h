// Plain parameter structs shared by the torch glue (ops/gdn_block_*) and the torch-free kernels
// (ops/kernels/cpu, ops/kernels/cuda), in the style of flash-attention's flash.h: raw pointers,
// sizes, no torch types. Every tensor is dense and contiguous in the layout its comment gives.
#pragma once

#include <cstdint>

#include "dtype.h"

namespace arl2::kernels {

// DType is the element type of k, v, q and of the gradients returned for them. g, beta and every state
// are float32 (float64 only on the CPU, where all inputs are then float64).

struct GdnShape {
  int64_t batch = 0;     // B
  int64_t seqlen = 0;    // T, a multiple of block_len
  int64_t heads = 0;     // H
  int64_t dim_k = 0;     // K
  int64_t dim_v = 0;     // V
  int64_t block_len = 0; // L: tokens per block
  int64_t num_blocks() const {
    return seqlen / block_len;
  }
};

// Forward of arl2::gdn_block_scan.
struct GdnScanFwdParams {
  GdnShape shape;
  DType dtype = DType::kFloat32;       // of k and v
  const void* k = nullptr;             // [B, T, H, K]
  const void* v = nullptr;             // [B, T, H, V]
  const void* g = nullptr;             // [B, T, H] log-decay per token (<= 0)
  const void* beta = nullptr;          // [B, T, H] write strength
  const void* initial_state = nullptr; // [B, H, K, V] or null for zeros
  void* states = nullptr;              // out [B, NB, H, K, V]: the state before each block
  void* final_state = nullptr;         // out [B, H, K, V]: the state after the last block
  // out [B, NB - 1, H, K, K] (null when NB <= 1): M_b for blocks b = 1 .. NB - 1, the linear map the
  // block applies to the state it starts from (state after = M_b state before + the block's writes).
  // The backward takes them so it need not recompute them.
  void* transitions = nullptr;
};

// Backward of arl2::gdn_block_scan. d_states / d_final_state may be null (no gradient flows in).
struct GdnScanBwdParams {
  GdnShape shape;
  DType dtype = DType::kFloat32;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* g = nullptr;
  const void* beta = nullptr;
  const void* states = nullptr;        // [B, NB, H, K, V] as the forward returned it
  const void* transitions = nullptr;   // [B, NB - 1, H, K, K] as the forward returned them
  const void* d_states = nullptr;      // [B, NB, H, K, V] or null
  const void* d_final_state = nullptr; // [B, H, K, V] or null
  void* dk = nullptr;                  // out [B, T, H, K], dtype of k
  void* dv = nullptr;                  // out [B, T, H, V], dtype of v
  void* dg = nullptr;                  // out [B, T, H], state dtype
  void* dbeta = nullptr;               // out [B, T, H], state dtype
  void* d_initial_state = nullptr;     // out [B, H, K, V], state dtype
};

// Forward of arl2::gdn_block_read: o[t] = scale * states[block(t)]^T q[t].
struct GdnReadFwdParams {
  GdnShape shape;
  DType dtype = DType::kFloat32; // of q and o
  double scale = 1.0;            // double so the float64 CPU path is exact; CUDA kernels use it as float
  const void* q = nullptr;       // [B, T, H, K]
  const void* states = nullptr;  // [B, NB, H, K, V]
  void* o = nullptr;             // out [B, T, H, V]
  // Gated (both or neither): o = residual + gate * (4), residual [B, T, H, V] and gate [B, T, H] of q's dtype.
  const void* residual = nullptr;
  const void* gate = nullptr;
};

struct GdnReadBwdParams {
  GdnShape shape;
  DType dtype = DType::kFloat32; // of q, do and dq
  double scale = 1.0;            // double so the float64 CPU path is exact; CUDA kernels use it as float
  const void* q = nullptr;       // [B, T, H, K]
  const void* states = nullptr;  // [B, NB, H, K, V]
  const void* d_o = nullptr;     // [B, T, H, V]
  void* dq = nullptr;            // out [B, T, H, K]
  void* d_states = nullptr;      // out [B, NB, H, K, V]
};

} // namespace arl2::kernels
