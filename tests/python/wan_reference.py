"""An independent PyTorch Wan2.1 DiT in its causal form, written from the model's description
(docs/design.md, "The Wan2.1 DiT") with torch.nn modules, to check the C++ WanDiT against; optionally with
ARL2 hybrid layers written from docs/design.md, "The method".

Same parameter names as Wan's state dict (and, for the hybrid layers' new parameters, as the authors'
code). Attention runs over the whole token sequence with an explicit boolean mask per mode (block-causal,
or teacher forcing over [clean | noisy]), unlike the C++ model's per-block calls; the hybrid memory is a
float64 token-by-token loop, unlike the C++ model's ops, so the two share neither code nor structure.
"""
import dataclasses
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x if x.dtype == torch.float64 else x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope(x, grid, frame_offset):
    """Wan's 3D RoPE on x [B, L, H, D]: head dim split t/h/w = D - 4(D//6), 2(D//6), 2(D//6), adjacent
    elements paired as complex numbers, angle p * 10000^(-2j/d) per axis, in float64."""
    frames, rows, cols = grid
    d = x.shape[-1]
    parts = (d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6))

    def rotations(positions, size):
        angles = torch.outer(positions.double(), 10000.0 ** (-torch.arange(0, size, 2, dtype=torch.float64) / size))
        return torch.polar(torch.ones_like(angles), angles)

    t = rotations(torch.arange(frame_offset, frame_offset + frames), parts[0])
    h = rotations(torch.arange(rows), parts[1])
    w = rotations(torch.arange(cols), parts[2])
    table = torch.cat(
        [
            t.view(frames, 1, 1, -1).expand(frames, rows, cols, -1),
            h.view(1, rows, 1, -1).expand(frames, rows, cols, -1),
            w.view(1, 1, cols, -1).expand(frames, rows, cols, -1),
        ],
        dim=-1,
    ).reshape(1, frames * rows * cols, 1, d // 2)
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2))
    return torch.view_as_real(pairs * table).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(self, x, context=None, layout=None):
        """Self-attention over x as `layout` says, or cross-attention to `context` (no mask, no RoPE)."""
        source = x if context is None else context
        b = x.shape[0]
        q = self.norm_q(self.q(x)).view(b, x.shape[1], self.heads, -1)
        k = self.norm_k(self.k(source)).view(b, source.shape[1], self.heads, -1)
        v = self.v(source).view(b, source.shape[1], self.heads, -1)
        mask = None
        if layout is not None:
            q, k, mask = layout.rope(q), layout.rope(k), layout.mask
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        return self.o(out.transpose(1, 2).flatten(2))


@dataclasses.dataclass
class Layout:
    """Where the self-attention's tokens sit: the softmax layers' mask, RoPE for [B, L, H, D] tensors of
    the whole sequence, tokens per block, and whether the sequence is [clean | noisy]."""

    mask: torch.Tensor
    rope: Callable
    block_len: int
    teacher_forcing: bool


class LoraLinear(nn.Linear):
    """nn.Linear plus (x A) B * alpha / rank, A [in, rank] and B [rank, out] named lora_A and lora_B."""

    def __init__(self, n_in, n_out, rank, alpha):
        super().__init__(n_in, n_out)
        self.lora_A = nn.Parameter(torch.zeros(n_in, rank))
        self.lora_B = nn.Parameter(torch.zeros(rank, n_out))
        self.lora_scale = alpha / rank

    def forward(self, x):
        return super().forward(x) + (x @ self.lora_A) @ self.lora_B * self.lora_scale


def l2_normalize(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-6)


class HybridAttention(nn.Module):
    """The ARL2 hybrid layer (docs/design.md, "The method"): softmax attention within each block, plus
    gamma * D^-1/2 S_{i-1}^T q_m, where S is the gated delta rule state written token by token (in
    float64) over the blocks before block i (over the clean half only under teacher forcing)."""

    def __init__(self, dim, heads, eps, lora_rank=0, lora_alpha=32.0):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)
        self.a_proj, self.b_proj, self.gate_proj = (nn.Linear(dim, heads, bias=False) for _ in range(3))
        self.A_log = nn.Parameter(torch.zeros(heads))
        self.dt_bias = nn.Parameter(torch.zeros(heads))
        # per-head D x D maps, as grouped 1x1 convolutions over the channels
        self.phi_q, self.phi_k, self.phi_v = (nn.Conv1d(dim, dim, 1, groups=heads, bias=False) for _ in range(3))
        self.lora_rank = lora_rank
        if lora_rank:
            self.lora_scale = lora_alpha / lora_rank
            for name in ("lora_q", "lora_k", "lora_v"):
                setattr(self, name + "_A", nn.Parameter(torch.zeros(dim, lora_rank)))
                setattr(self, name + "_B", nn.Parameter(torch.zeros(lora_rank, dim)))
        self.last = None  # (intra, gated memory, gate) of the last forward

    def lora(self, name, x):
        if not self.lora_rank:
            return 0
        return (x @ getattr(self, name + "_A")) @ getattr(self, name + "_B") * self.lora_scale

    def forward(self, x, layout):
        b, n, c = x.shape
        h = self.heads
        d = c // h

        def heads(t):
            return t.reshape(b, n, h, d)

        def phi(conv, t):
            return heads(conv(t.reshape(b, n, c).transpose(1, 2)).transpose(1, 2).contiguous())

        q, k, v = heads(self.norm_q(self.q(x))), heads(self.norm_k(self.k(x))), heads(self.v(x))
        block = torch.arange(n) // layout.block_len
        intra = F.scaled_dot_product_attention(
            layout.rope(q).transpose(1, 2),
            layout.rope(k).transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=block[:, None] == block[None, :],
        ).transpose(1, 2)

        q_in = heads(self.norm_q(self.q(x) + self.lora("lora_q", x)))
        k_in = heads(self.norm_k(self.k(x) + self.lora("lora_k", x)))
        v_in = heads(self.v(x) + self.lora("lora_v", x))
        q_m = l2_normalize(layout.rope(phi(self.phi_q, q_in)))
        k_m = l2_normalize(layout.rope(phi(self.phi_k, k_in))).double()
        v_m = phi(self.phi_v, v_in).double()
        g = (-self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)).double()
        beta = (2 * torch.sigmoid(self.b_proj(x))).double()
        gamma = torch.sigmoid(self.gate_proj(x))

        written = n // 2 if layout.teacher_forcing else n
        state = torch.zeros(b, h, d, d, dtype=torch.float64)
        before = []  # the state before each written block
        for t in range(written):
            if t % layout.block_len == 0:
                before.append(state)
            state = state * g[:, t].exp()[..., None, None]
            u = beta[:, t, :, None] * (v_m[:, t] - torch.einsum("bhkv,bhk->bhv", state, k_m[:, t]))
            state = state + torch.einsum("bhk,bhv->bhkv", k_m[:, t], u)
        # block i of the sequence (and noisy block i under teacher forcing) reads the state before clean block i
        states = torch.stack(before, 1)[:, block % len(before)]
        read = torch.einsum("bnhk,bnhkv->bnhv", q_m.double(), states).to(x.dtype) * d**-0.5
        gated = gamma[..., None] * read
        self.last = (intra.detach(), gated.detach(), gamma.detach())
        return self.o((intra + gated).flatten(2))


class Block(nn.Module):
    def __init__(self, cfg, hybrid=False, lora_rank=0, lora_alpha=32.0, ffn_lora=None):
        """hybrid: a HybridAttention in place of the softmax self-attention; lora_rank > 0 adds LoRA to
        its memory path and to both FFN linears (ffn_lora: to the FFN whether hybrid or not)."""
        super().__init__()
        dim, eps = cfg["dim"], cfg["eps"]
        self.eps = eps
        if hybrid:
            self.self_attn = HybridAttention(dim, cfg["num_heads"], eps, lora_rank, lora_alpha)
        else:
            self.self_attn = Attention(dim, cfg["num_heads"], eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.cross_attn = Attention(dim, cfg["num_heads"], eps)
        if lora_rank and (hybrid if ffn_lora is None else ffn_lora):
            ffn_in = LoraLinear(dim, cfg["ffn_dim"], lora_rank, lora_alpha)
            ffn_out = LoraLinear(cfg["ffn_dim"], dim, lora_rank, lora_alpha)
        else:
            ffn_in, ffn_out = nn.Linear(dim, cfg["ffn_dim"]), nn.Linear(cfg["ffn_dim"], dim)
        self.ffn = nn.Sequential(ffn_in, nn.GELU(approximate="tanh"), ffn_out)
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def norm(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)

    def forward(self, x, e0, context, layout):
        # e0 [B, F, 6, C]: per-frame modulation applied to x seen as [B, F, tokens per frame, C]
        b, l, c = x.shape
        f = e0.shape[1]
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.modulation.unsqueeze(1) + e0).chunk(6, dim=2)

        def per_frame(fn, y):
            return fn(y.view(b, f, l // f, c)).view(b, l, c)

        y = self.self_attn(per_frame(lambda z: z * (1 + scale1) + shift1, self.norm(x)), layout=layout)
        x = x + per_frame(lambda z: z * gate1, y)
        x = x + self.cross_attn(self.norm3(x), context=context)
        y = self.ffn(per_frame(lambda z: z * (1 + scale2) + shift2, self.norm(x)))
        return x + per_frame(lambda z: z * gate2, y)


class Head(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.eps = cfg["eps"]
        self.head = nn.Linear(cfg["dim"], math.prod(cfg["patch"]) * cfg["out_dim"])
        self.modulation = nn.Parameter(torch.randn(1, 2, cfg["dim"]) / cfg["dim"] ** 0.5)

    def forward(self, x, e):
        b, l, c = x.shape
        f = e.shape[1]
        shift, scale = (self.modulation.unsqueeze(1) + e.unsqueeze(2)).chunk(2, dim=2)
        normed = F.layer_norm(x, (c,), eps=self.eps).view(b, f, l // f, c)
        return self.head(normed * (1 + scale) + shift).view(b, l, -1)


def sinusoidal(t, dim):
    half = dim // 2
    angles = torch.outer(t.double().flatten(), torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half))
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class WanReference(nn.Module):
    def __init__(self, cfg, hybrid_layers=(), lora_rank=0, lora_alpha=32.0, ffn_lora_all_layers=False):
        super().__init__()
        self.cfg = cfg
        dim = cfg["dim"]
        self.patch_embedding = nn.Conv3d(cfg["in_dim"], dim, kernel_size=cfg["patch"], stride=cfg["patch"])
        self.text_embedding = nn.Sequential(
            nn.Linear(cfg["text_dim"], dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(cfg["freq_dim"], dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(
            Block(cfg, i in hybrid_layers, lora_rank, lora_alpha, ffn_lora=(i in hybrid_layers) or ffn_lora_all_layers)
            for i in range(cfg["num_layers"])
        )
        self.head = Head(cfg)

    def embed(self, x, t):
        tokens = self.patch_embedding(x)
        grid = tuple(tokens.shape[2:])
        b = x.shape[0]
        e = self.time_embedding(sinusoidal(t, self.cfg["freq_dim"]).to(x.dtype))
        e0 = self.time_projection(e).view(b, -1, 6, self.cfg["dim"])
        return tokens.flatten(2).transpose(1, 2), grid, e.view(b, -1, self.cfg["dim"]), e0

    def unpatchify(self, y, grid):
        pt, ph, pw = self.cfg["patch"]
        f, h, w = grid
        y = y.view(y.shape[0], f, h, w, pt, ph, pw, self.cfg["out_dim"])
        return torch.einsum("bfhwpqrc->bcfphqwr", y).reshape(y.shape[0], -1, f * pt, h * ph, w * pw)

    def forward(self, x, t, context, frames_per_block, clean=None, clean_t=None, window_frames=None, sink_frames=0):
        """x [B, C, F, H, W], t [B, F], context [B, Lt, text_dim]. Without `clean`: block-causal over
        x; with `window_frames`, a query sees only the first `sink_frames` frames and the last
        `window_frames - sink_frames` frames up to the end of its block (Self Forcing's local attention
        with a sink). With `clean`: teacher forcing over [clean | x], returning the prediction for x."""
        tokens, grid, e, e0 = self.embed(x, t)
        per_frame = grid[1] * grid[2]
        frame_of = torch.arange(tokens.shape[1]) // per_frame
        block_of = frame_of // frames_per_block
        padded = F.pad(context, (0, 0, 0, self.cfg["text_len"] - context.shape[1]))
        text = self.text_embedding(padded)
        if clean is None:
            mask = block_of[None, :] <= block_of[:, None]
            if window_frames is not None:
                block_end = (block_of[:, None] + 1) * frames_per_block
                recent = frame_of[None, :] >= block_end - (window_frames - sink_frames)
                mask &= recent | (frame_of[None, :] < sink_frames)
            seq, e0_all = tokens, e0

            def rope_fn(z):
                return rope(z, grid, 0)

        else:
            clean_tokens, _, _, clean_e0 = self.embed(clean, clean_t)
            q_block, k_block = block_of[:, None], block_of[None, :]
            top = torch.cat([k_block <= q_block, torch.zeros_like(k_block <= q_block)], dim=1)  # clean queries
            bottom = torch.cat([k_block < q_block, k_block == q_block], dim=1)  # noisy queries
            mask = torch.cat([top, bottom], dim=0)
            seq, e0_all = torch.cat([clean_tokens, tokens], 1), torch.cat([clean_e0, e0], 1)
            half = tokens.shape[1]

            def rope_fn(z):
                return torch.cat([rope(z[:, :half], grid, 0), rope(z[:, half:], grid, 0)], 1)

        layout = Layout(mask, rope_fn, frames_per_block * per_frame, clean is not None)
        for block in self.blocks:
            seq = block(seq, e0_all, text, layout)
        return self.unpatchify(self.head(seq[:, -tokens.shape[1] :], e), grid)
