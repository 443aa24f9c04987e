"""An independent PyTorch Wan2.1 DiT in its causal form, written from the model's description
(../shared/reference/wan_model.md sections 1-3) with torch.nn modules, to check the C++ WanDiT against.

Same parameter names as Wan's state dict. Attention runs over the whole token sequence with an explicit
boolean mask per mode (block-causal, or teacher forcing over [clean | noisy]), unlike the C++ model's
per-block calls, so the two share neither code nor structure.
"""
import math

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

    def forward(self, x, context=None, mask=None, rope_fn=None):
        source = x if context is None else context
        b = x.shape[0]
        q = self.norm_q(self.q(x)).view(b, x.shape[1], self.heads, -1)
        k = self.norm_k(self.k(source)).view(b, source.shape[1], self.heads, -1)
        v = self.v(source).view(b, source.shape[1], self.heads, -1)
        if rope_fn is not None:
            q, k = rope_fn(q), rope_fn(k)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        return self.o(out.transpose(1, 2).flatten(2))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, eps = cfg["dim"], cfg["eps"]
        self.eps = eps
        self.self_attn = Attention(dim, cfg["num_heads"], eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.cross_attn = Attention(dim, cfg["num_heads"], eps)
        self.ffn = nn.Sequential(
            nn.Linear(dim, cfg["ffn_dim"]), nn.GELU(approximate="tanh"), nn.Linear(cfg["ffn_dim"], dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def norm(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)

    def forward(self, x, e0, context, mask, rope_fn):
        # e0 [B, F, 6, C]: per-frame modulation applied to x seen as [B, F, tokens per frame, C]
        b, l, c = x.shape
        f = e0.shape[1]
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.modulation.unsqueeze(1) + e0).chunk(6, dim=2)

        def per_frame(fn, y):
            return fn(y.view(b, f, l // f, c)).view(b, l, c)

        y = self.self_attn(per_frame(lambda z: z * (1 + scale1) + shift1, self.norm(x)), mask=mask, rope_fn=rope_fn)
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
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        dim = cfg["dim"]
        self.patch_embedding = nn.Conv3d(cfg["in_dim"], dim, kernel_size=cfg["patch"], stride=cfg["patch"])
        self.text_embedding = nn.Sequential(
            nn.Linear(cfg["text_dim"], dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(cfg["freq_dim"], dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["num_layers"]))
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

        for block in self.blocks:
            seq = block(seq, e0_all, text, mask, rope_fn)
        return self.unpatchify(self.head(seq[:, -tokens.shape[1] :], e), grid)
