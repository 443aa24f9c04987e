"""Plain PyTorch references for the ARL2 ops, written token by token from the spec's definition
(ops/specs/gdn_block_scan.md, eqs (1)-(4)) and sharing no code with the kernels.

They compute in the dtype they are given (pass float64 for a reference) and are differentiable through
torch autograd, so the same calls give reference gradients.
"""
from typing import Optional, Tuple

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
