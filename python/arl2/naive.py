"""Plain PyTorch references for the ARL2 ops, written from the specs' definitions (ops/specs/) and
sharing no code with the kernels.

They compute in the dtype they are given (pass float64 for a reference) and are differentiable through
torch autograd, so the same calls give reference gradients.
"""
from typing import Optional, Sequence, Tuple

import torch


def naive_gdn_block_scan(
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    block_len: int,
    initial_state: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reference for :func:`arl2.gdn_block_scan`: same arguments, shapes and outputs."""
    B, T, H, K = k.shape
    S = k.new_zeros(B, H, K, v.shape[-1]) if initial_state is None else initial_state
    states = []
    for t in range(T):
        if t % block_len == 0:
            states.append(S)
        k_t = k[:, t, :, :, None]  # [B, H, K, 1]
        S = g[:, t, :, None, None].exp() * S  # (1)
        u = beta[:, t, :, None] * (v[:, t] - (S * k_t).sum(-2))  # (2)
        S = S + k_t * u[:, :, None, :]  # (3)
    return torch.stack(states, 1), S


def naive_gdn_block_read(q: torch.Tensor, states: torch.Tensor, block_len: int, scale: float) -> torch.Tensor:
    """Reference for :func:`arl2.gdn_block_read` (scale is required here): o_t = scale * states[block(t)]^T q_t."""
    B, T, H, K = q.shape
    qb = q.reshape(B, T // block_len, block_len, H, K)
    o = scale * torch.einsum("bnlhk,bnhkv->bnlhv", qb, states)  # (4)
    return o.reshape(B, T, H, states.shape[-1])


def naive_hybrid_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_mem: torch.Tensor,
    states: torch.Tensor,
    gate: torch.Tensor,
    block_len: int,
    scale: Optional[float] = None,
    mem_scale: Optional[float] = None,
) -> torch.Tensor:
    """Reference for :func:`arl2.hybrid_attention`: attention over the whole sequence with every pair of
    tokens from different blocks masked out (1), plus the gated read (2), (3)."""
    B, T, H, D = q.shape
    scale = D**-0.5 if scale is None else scale
    mem_scale = q_mem.shape[-1] ** -0.5 if mem_scale is None else mem_scale
    block = torch.arange(T, device=q.device) // block_len
    scores = scale * torch.einsum("bthd,buhd->bhtu", q, k)
    scores = scores.masked_fill(block[:, None] != block[None, :], float("-inf"))
    intra = torch.einsum("bhtu,buhv->bthv", scores.softmax(-1), v)  # (1)
    memory = naive_gdn_block_read(q_mem, states, block_len, mem_scale)  # (2)
    return intra + gate[..., None] * memory  # (3)


def naive_rope3d(x: torch.Tensor, grid: Sequence[int], frame_offset: int = 0, inverse: bool = False) -> torch.Tensor:
    """Reference for :func:`arl2.rope3d`, built the way Wan builds its embedding: a float64 table of unit
    complex numbers per axis (``torch.polar``), concatenated per token and multiplied into ``x`` viewed as
    interleaved complex pairs. Computes in complex128; returns ``x``'s dtype."""
    frames, height, width = grid
    batch, tokens, heads, dim = x.shape
    sizes = (dim - 4 * (dim // 6), 2 * (dim // 6), 2 * (dim // 6))

    def table(positions: torch.Tensor, size: int) -> torch.Tensor:
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, size, 2, dtype=torch.float64) / size))
        angles = torch.outer(positions.to(torch.float64), inv_freq)
        return torch.polar(torch.ones_like(angles), -angles if inverse else angles)

    t = table(torch.arange(frame_offset, frame_offset + frames), sizes[0])
    h = table(torch.arange(height), sizes[1])
    w = table(torch.arange(width), sizes[2])
    per_token = torch.cat(
        [
            t[:, None, None, :].expand(frames, height, width, -1),
            h[None, :, None, :].expand(frames, height, width, -1),
            w[None, None, :, :].expand(frames, height, width, -1),
        ],
        dim=-1,
    ).reshape(tokens, 1, dim // 2)
    pairs = torch.view_as_complex(x.to(torch.float64).reshape(batch, tokens, heads, dim // 2, 2).contiguous())
    return torch.view_as_real(pairs * per_token.to(x.device)).reshape(x.shape).to(x.dtype)
