"""scripts/decode_latents.py on a tiny random Wan VAE (diffusers' AutoencoderKLWan) saved in the diffusers
layout: frame count and size, agreement with a direct decode, the PNG files, errors."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("PIL")
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "decode_latents.py"


def make_vae(root: Path):
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 2], num_res_blocks=1,
                                     temperal_downsample=[True], latents_mean=[0.1, -0.2, 0.3, 0.0],
                                     latents_std=[1.5, 0.5, 2.0, 1.0], scale_factor_temporal=2,
                                     scale_factor_spatial=4).eval()
    vae.save_pretrained(root / "vae")
    return vae


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_decodes_like_the_vae_and_writes_frames(tmp_path):
    vae = make_vae(tmp_path)
    latents = torch.randn(1, 3, 4, 4, 6)  # [B, F, C, H, W]
    save_file({"latents": latents}, str(tmp_path / "latents.safetensors"))
    r = run("--model-dir", tmp_path, "--latents", tmp_path / "latents.safetensors", "--out-dir", tmp_path / "out",
            "--device", "cpu", "--save-pixels")
    assert r.returncode == 0, r.stderr
    with safe_open(str(tmp_path / "out" / "pixels.safetensors"), "pt") as f:
        pixels = f.get_tensor("pixels")
    with torch.no_grad():
        z = latents.permute(0, 2, 1, 3, 4) * torch.tensor([1.5, 0.5, 2.0, 1.0]).view(1, 4, 1, 1, 1)
        z = z + torch.tensor([0.1, -0.2, 0.3, 0.0]).view(1, 4, 1, 1, 1)
        ref = vae.decode(z).sample
    ref = ((ref.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1)
    assert pixels.shape == ref.shape and pixels.shape[1] == 1 + 2 * (3 - 1)  # causal: 1 + stride (F - 1)
    assert (pixels.int() - ref.int()).abs().max() <= 1
    assert len(list((tmp_path / "out" / "video0").glob("frame*.png"))) == pixels.shape[1]


def test_errors_are_clear(tmp_path):
    r = run("--model-dir", tmp_path, "--latents", tmp_path / "x", "--out-dir", tmp_path / "out")
    assert r.returncode == 1 and "vae is missing" in r.stderr
    make_vae(tmp_path)
    save_file({"other": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    r = run("--model-dir", tmp_path, "--latents", tmp_path / "bad.safetensors", "--out-dir", tmp_path / "out")
    assert r.returncode == 1 and "holds no 'latents' tensor" in r.stderr
    save_file({"latents": torch.zeros(1, 2, 3, 4, 4)}, str(tmp_path / "wrong.safetensors"))
    r = run("--model-dir", tmp_path, "--latents", tmp_path / "wrong.safetensors", "--out-dir", tmp_path / "out")
    assert r.returncode == 1 and "latents must be [B, F, 4, H, W]" in r.stderr
