// The C++ API of the arl2 op library. Every function calls its op through the dispatcher, so device
// dispatch and autograd apply exactly as they do for torch.ops.arl2.* in Python. Shapes, layouts and
// math: ops/specs/.
#pragma once

#include <optional>
#include <string_view>
#include <tuple>

#include <ATen/core/Tensor.h>

namespace arl2 {

// The gated delta rule written block by block. k [B,T,H,K], v [B,T,H,V] (float32/bfloat16/float16,
// float64 on CPU), g and beta [B,T,H] in the state dtype (float32; float64 with float64 k), T a
// multiple of block_len, initial_state [B,H,K,V] or none (zeros). Returns states [B,T/block_len,H,K,V],
// the state before each block, and final_state [B,H,K,V].
std::tuple<at::Tensor, at::Tensor> gdn_block_scan(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state = std::nullopt);

// Every token of block i reads states[:, i]: o[t] = scale * states[block(t)]^T q[t]. q [B,T,H,K];
// returns o [B,T,H,V] in q's dtype.
at::Tensor gdn_block_read(const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale);

// The hybrid layer's dual-branch core (ops/specs/hybrid_attention.md): softmax attention of q, k, v
// inside each block of block_len tokens (bidirectional, nothing across blocks; scale defaults to
// D^-1/2), plus the memory read of every token's block state, gated per token and head:
//   out[t] = softmax_block(q k^T scale) v [t] + gate[t] * mem_scale * states[block(t)]^T q_mem[t].
// q, k [B,T,H,D], v [B,T,H,V], q_mem [B,T,H,K], gate [B,T,H], all of one dtype; states
// [B,T/block_len,H,K,V] in the state dtype (float32; float64 with float64 inputs); mem_scale defaults
// to K^-1/2. Returns [B,T,H,V] in q's dtype.
at::Tensor hybrid_attention(
    const at::Tensor& q,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& q_mem,
    const at::Tensor& states,
    const at::Tensor& gate,
    int64_t block_len,
    std::optional<double> scale = std::nullopt,
    std::optional<double> mem_scale = std::nullopt);

// Wan's 3D rotary embedding (ops/specs/rope3d.md). x [B, L, H, D] with L = grid[0] * grid[1] * grid[2]
// tokens in frame-major raster order; the first frame sits at absolute index frame_offset. inverse
// rotates back. Returns a tensor of x's shape and dtype.
at::Tensor rope3d(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset = 0, bool inverse = false);

// The row-wise fused ops of a DiT block (ops/specs/row_ops.md): one pass over memory, float32 math
// (float64 for float64), the output rounded once to x's dtype. Every tensor has x's dtype.
//
// Wan's RMSNorm over the last dim C: x / sqrt(mean(x^2) + eps) * weight; weight [C].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// LayerNorm over C without affine weights, then the per-frame modulation: x [B, L, C] holds F equal
// runs of tokens (frames); shift and scale [B, F, C]. Returns layer_norm(x) * (1 + scale) + shift.
at::Tensor layer_norm_modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);
// The gated residual x + y * gate, x and y [B, L, C], gate [B, F, C] per frame as above.
at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);

// Throws an error naming `name` if `t` holds a NaN or an infinity. It synchronises with the device, so
// callers use it only where they ask for checking.
void check_finite(const at::Tensor& t, std::string_view name);

namespace detail {

// gdn_block_scan plus the blocks' transitions [B, max(NB - 1, 0), H, K, K]: M_b for b = 1 .. NB - 1,
// the linear map block b applies to the state it starts from. gdn_block_scan is this op's first two
// outputs; autograd saves the transitions for the backward, which then need not recompute them.
std::tuple<at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_forward(
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gdn_block_scan_backward(
    const std::optional<at::Tensor>& d_states,
    const std::optional<at::Tensor>& d_final_state,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    const at::Tensor& states,
    const at::Tensor& transitions,
    int64_t block_len);

std::tuple<at::Tensor, at::Tensor> gdn_block_read_backward(
    const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len, double scale);

// residual + gate[..., None] * gdn_block_read(q, states, block_len, scale): hybrid_attention's sum of its two
// branches, on CUDA in the read's epilogue. residual [B, T, H, V] and gate [B, T, H] have q's dtype.
at::Tensor gdn_block_read_gated(
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len,
    double scale);

} // namespace detail
} // namespace arl2
