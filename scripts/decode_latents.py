"""Decodes latents written by `arl2 generate` into frames with the Wan VAE, through the `diffusers` package
(AutoencoderKLWan) from the user's Wan2.1 checkpoint folder in the diffusers layout (its `vae/` folder).

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

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def load_vae(model_dir: Path, dtype, device):
    try:
        from diffusers import AutoencoderKLWan
    except ImportError as e:
        raise RuntimeError("decode_latents.py needs the diffusers package: pip install diffusers") from e
    if not (model_dir / "vae").is_dir():
        raise FileNotFoundError(
            f"{model_dir / 'vae'} is missing: --model-dir must be a Wan2.1 folder in the diffusers layout "
            "(vae/), e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
        )
    return AutoencoderKLWan.from_pretrained(model_dir / "vae", dtype=dtype).to(device).eval()


def read_latents(path: Path, z_dim: int):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        if "latents" not in f.keys():
            raise ValueError(f"{path} holds no 'latents' tensor; it has {sorted(f.keys())}")
        latents = f.get_tensor("latents")
    if latents.dim() != 5 or latents.shape[2] != z_dim:
        raise ValueError(f"latents must be [B, F, {z_dim}, H, W], got {list(latents.shape)}")
    return latents


@torch.no_grad()
def decode(vae, latents):
    """[B, F, C, H, W] normalised latents -> [B, T, H', W', 3] uint8 frames."""
    param = next(vae.parameters())
    z = latents.to(param.device, torch.float32).permute(0, 2, 1, 3, 4)  # [B, C, F, H, W], as the VAE takes it
    mean = torch.tensor(vae.config.latents_mean, device=z.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=z.device).view(1, -1, 1, 1, 1)
    video = vae.decode((z * std + mean).to(param.dtype)).sample  # [B, 3, T, H', W'] in [-1, 1]
    video = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return video.permute(0, 2, 3, 4, 1).cpu()


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
        frames = decode(vae, read_latents(args.latents, vae.config.z_dim))
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
