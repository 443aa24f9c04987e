"""The fla-style functional API of the ARL2 ops (math, layouts and tolerances: ops/specs/).

Each function calls its torch.ops.arl2 op directly, so autograd, device dispatch, fake tensors and
torch.compile behave exactly as they do for the op itself. Argument checks live in the C++ op (one
place for C++ and Python callers, errors name the argument); the only Python-side check is the opt-in
NaN/inf scan.
"""
from typing import Optional, Sequence, Tuple

import torch


def _check_finite(op: str, **tensors: Optional[torch.Tensor]) -> None:
    for name, t in tensors.items():
        if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"arl2.{op}: {name} holds NaN or infinite values")


def gdn_block_scan(
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    block_len: int,
    initial_state: Optional[torch.Tensor] = None,
    check_finite: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""Writes the gated delta rule state block by block and returns the state before each block.

    Token by token, with ``S`` (K x V) starting at ``initial_state``::

        S' = exp(g_t) S;   u_t = beta_t (v_t - S'^T k_t);   S = S' + k_t u_t^T

    Block boundaries do not change the recurrence; they only decide which states are emitted.

    Parameters
    ----------
    k : Tensor ``[B, T, H, K]``
        Keys, float32, bfloat16 or float16 (float64 on CPU). L2-normalise them over K: only with
        unit-norm keys is the write ``I - beta k k^T`` non-expanding for every ``0 < beta < 2``.
    v : Tensor ``[B, T, H, V]``
        Values, same dtype as ``k``.
    g : Tensor ``[B, T, H]``
        Log decay (``<= 0`` in practice), in the state dtype.
    beta : Tensor ``[B, T, H]``
        Write strength, in the state dtype.
    block_len : int
        Tokens per block; ``T`` must be a multiple of it.
    initial_state : Tensor ``[B, H, K, V]``, optional
        State before the first token, in the state dtype; zeros when omitted.
    check_finite : bool
        Raise ``ValueError`` naming the first input that holds NaN or inf. Synchronises with the
        device, so it is off by default.

    Returns
    -------
    states : Tensor ``[B, T // block_len, H, K, V]``
        ``states[:, i]`` is the state before block ``i``; ``states[:, 0]`` is the initial state.
    final_state : Tensor ``[B, H, K, V]``
        The state after the last token.

    Notes
    -----
    The state dtype is float32, or float64 when ``k`` and ``v`` are float64 (CPU only). States are
    stored K x V (fla's ``h = S^T``). Inputs may be non-contiguous.

    Differentiable in ``k``, ``v``, ``g``, ``beta`` and ``initial_state``, through either output or
    both; an unused output costs no gradient tensor. Double backward is not supported.
    """
    if check_finite:
        _check_finite("gdn_block_scan", k=k, v=v, g=g, beta=beta, initial_state=initial_state)
    return torch.ops.arl2.gdn_block_scan.default(k, v, g, beta, block_len, initial_state)


def gdn_block_read(
    q: torch.Tensor,
    states: torch.Tensor,
    block_len: int,
    scale: Optional[float] = None,
    check_finite: bool = False,
) -> torch.Tensor:
    r"""Every token of block ``i`` reads the state before that block: ``o_t = scale * states[i]^T q_t``.

    Parameters
    ----------
    q : Tensor ``[B, T, H, K]``
        Queries, float32, bfloat16 or float16 (float64 on CPU).
    states : Tensor ``[B, T // block_len, H, K, V]``
        The ``states`` output of :func:`gdn_block_scan`, in the state dtype (float32, or float64 with
        float64 ``q``).
    block_len : int
        Tokens per block; ``T`` must be a multiple of it.
    scale : float, optional
        Output scale; ``K ** -0.5`` when omitted.
    check_finite : bool
        Raise ``ValueError`` naming the first input that holds NaN or inf (synchronises; opt-in).

    Returns
    -------
    o : Tensor ``[B, T, H, V]``
        In the dtype of ``q``.

    Notes
    -----
    Differentiable in ``q`` and ``states``. Double backward is not supported.
    """
    if check_finite:
        _check_finite("gdn_block_read", q=q, states=states)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    return torch.ops.arl2.gdn_block_read.default(q, states, block_len, scale)


def hybrid_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_mem: torch.Tensor,
    states: torch.Tensor,
    gate: torch.Tensor,
    block_len: int,
    scale: Optional[float] = None,
    mem_scale: Optional[float] = None,
    check_finite: bool = False,
) -> torch.Tensor:
    r"""The hybrid layer's core: softmax attention inside each block plus the gated memory read.

    With ``b(t)`` the block of token ``t``::

        out[t] = softmax_{u in b(t)}(scale q_t . k_u) v_u + gate[t] * mem_scale * states[b(t)]^T q_mem[t]

    Attention is bidirectional inside a block and never crosses blocks; everything before the block
    reaches it only through ``states`` (from :func:`gdn_block_scan`). On CUDA the softmax branch runs
    LibTorch's FlashAttention kernels (bfloat16 / float16), and the read kernel adds the gated read to it
    in its epilogue.

    Parameters
    ----------
    q, k : Tensor ``[B, T, H, D]``
        Queries and keys of the softmax branch (RoPE applied), float32, bfloat16 or float16 (float64
        on CPU).
    v : Tensor ``[B, T, H, V]``
        Values, same dtype.
    q_mem : Tensor ``[B, T, H, K]``
        Memory queries (L2-normalised), same dtype.
    states : Tensor ``[B, T // block_len, H, K, V]``
        The state before each block, float32 (float64 with float64 inputs). Under teacher forcing
        pass ``torch.cat([states, states], 1)`` for ``[clean | noisy]``.
    gate : Tensor ``[B, T, H]``
        Output gate of the memory branch, same dtype as ``q``.
    block_len : int
        Tokens per block; ``T`` must be a multiple of it.
    scale, mem_scale : float, optional
        Softmax scale (default ``D ** -0.5``) and read scale (default ``K ** -0.5``).
    check_finite : bool
        Raise ``ValueError`` naming the first input that holds NaN or inf (synchronises).

    Returns
    -------
    Tensor ``[B, T, H, V]`` in ``q``'s dtype.
    """
    if check_finite:
        _check_finite("hybrid_attention", q=q, k=k, v=v, q_mem=q_mem, states=states, gate=gate)
    return torch.ops.arl2.hybrid_attention(q, k, v, q_mem, states, gate, block_len, scale, mem_scale)


def rope3d(
    x: torch.Tensor,
    grid: Sequence[int],
    frame_offset: int = 0,
    inverse: bool = False,
) -> torch.Tensor:
    r"""Wan2.1's 3D rotary position embedding, from positions rather than a 1024-row table.

    The head dim splits into a temporal, a height and a width part (``D - 4 (D // 6)``, ``2 (D // 6)``,
    ``2 (D // 6)``: 44 / 42 / 42 for D = 128); within a part of size ``d`` at position ``p``, the
    interleaved pair ``(x[2j], x[2j+1])`` rotates by ``p * 10000 ** (-2 j / d)``. Angles are formed in
    float64, so absolute frame indices past 1024 (long videos) keep their precision.

    Parameters
    ----------
    x : Tensor ``[B, L, H, D]``
        Queries or keys, float32, bfloat16 or float16 (float64 on CPU); ``D`` even.
    grid : ``(F, Hp, Wp)``
        The latent grid of the ``L = F * Hp * Wp`` tokens, in frame-major raster order.
    frame_offset : int
        Absolute index of the first frame (the temporal position of token 0).
    inverse : bool
        Rotate by the negative angles, undoing the embedding.

    Returns
    -------
    Tensor of ``x``'s shape and dtype. Differentiable in ``x`` (to any order).
    """
    return torch.ops.arl2.rope3d.default(x, list(grid), frame_offset, inverse)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    r"""Wan's RMSNorm over the last dim, fused: ``x / sqrt(mean(x ** 2) + eps) * weight``.

    One pass over memory with float32 math (float64 for float64), the output rounded once to ``x``'s
    dtype. ``x`` is ``[..., C]`` (float32, bfloat16, float16; float64 on CPU), ``weight`` ``[C]`` of
    ``x``'s dtype. Differentiable in ``x`` and ``weight``.
    """
    return torch.ops.arl2.rms_norm.default(x, weight, eps)


def layer_norm_modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    r"""LayerNorm without affine weights, then Wan's per-frame modulation, fused:
    ``layer_norm(x) * (1 + scale) + shift``.

    ``x`` is ``[B, L, C]``, its ``L`` tokens in ``F`` equal runs (frames); ``shift`` and ``scale`` are
    ``[B, F, C]``, one row per frame (slices of one ``[B, F, 6, C]`` tensor are read in place on CUDA).
    Every tensor has ``x``'s dtype (float32, bfloat16, float16; float64 on CPU); float32 math, one rounding.
    Differentiable in every tensor.
    """
    return torch.ops.arl2.layer_norm_modulate.default(x, shift, scale, eps)


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    r"""Wan's gated residual, fused: ``x + y * gate`` with ``x, y [B, L, C]`` and ``gate [B, F, C]`` per
    frame (as in :func:`layer_norm_modulate`), all of one dtype (float32, bfloat16, float16; float64 on CPU);
    float32 math, one rounding. Differentiable in every tensor."""
    return torch.ops.arl2.gated_residual.default(x, y, gate)
