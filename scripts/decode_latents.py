"""Decodes latents written by `arl2 generate` into frames with the Wan VAE, through the `diffusers` package
(AutoencoderKLWan) from the user's Wan2.1 checkpoint folder in the diffusers layout (its `vae/` folder), as
`arl2.wan_vae` runs it.

The latents file holds `latents` [B, F, C, H, W] (C = 16 normalised channels, as Self Forcing stores them):
they are un-normalised with the VAE's latents_mean / latents_std, decoded causally over time (F latent
frames -> 1 + 4 (F - 1) pixel frames, 8x the spatial size) and written as PNG frames
`<out-dir>/video<b>/frame<t>.png`, plus `<out-dir>/pixels.safetensors` ([B, T, H, W, 3] uint8) with --save-pixels.

    python3 scripts/decode_latents.py --model-dir Wan2.1-T2V-1.3B-Diffusers --latents out/latents.safetensors \\
        --out-dir out/frames
"""
import argparse
import os
import sys
from pathlib import Path

import torch

from arl2.wan_vae import decode, load_vae

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def read_latents(path: Path, z_dim: int):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        if "latents" not in f.keys():
            raise ValueError(f"{path} holds no 'latents' tensor; it has {sorted(f.keys())}")
        latents = f.get_tensor("latents")
    if latents.dim() != 5 or latents.shape[2] != z_dim:
        raise ValueError(f"latents must be [B, F, {z_dim}, H, W], got {list(latents.shape)}")
    return latents


def write_frames(frames, out_dir: Path):
    from PIL import Image

    for b, video in enumerate(frames):
        folder = out_dir / f"video{b}"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(video):
            Image.fromarray(frame.numpy()).save(folder / f"frame{t:05d}.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="Wan2.1 folder, diffusers layout")
    parser.add_argument("--latents", type=Path, required=True, help="safetensors file with `latents` [B, F, C, H, W]")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--dtype", choices=DTYPES, default="fp32", help="VAE dtype")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--save-pixels", action="store_true", help="also write pixels.safetensors (uint8)")
    args = parser.parse_args(argv)
    try:
        vae = load_vae(args.model_dir, DTYPES[args.dtype], torch.device(args.device))
        frames = decode(vae, read_latents(args.latents, vae.config.z_dim).permute(0, 2, 1, 3, 4)).cpu()
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"decode_latents: {e}", file=sys.stderr)
        return 1
    write_frames(frames, args.out_dir)
    if args.save_pixels:
        from safetensors.torch import save_file

        tmp = args.out_dir / "pixels.safetensors.tmp"
        save_file({"pixels": frames.contiguous()}, str(tmp))
        os.replace(tmp, args.out_dir / "pixels.safetensors")
    print(f"decode_latents: {tuple(frames.shape)} -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
