"""Convert and generate from Python: build the configured teacher, save its weights, load them into a fresh
model, convert that to the config's hybrid, and generate a video block by block, each block handed out as
soon as it is done; the teacher generates the same request for comparison.

    PYTHONPATH=python python3 examples/convert_and_generate.py [--config configs/tiny-hybrid50.yaml] [--out DIR]

The teacher's weights are random here (the tiny preset), so the blocks are noise: the point is the API. With real weights, load Wan's
diffusion_pytorch_model.safetensors (or scripts/convert_checkpoint.py's output) instead.
"""
import argparse
import time
from pathlib import Path

import torch

import arl2  # noqa: F401  (loads the op library that arl2._C calls)
from arl2 import _C

ROOT = Path(__file__).resolve().parents[1]


def generate(dit: _C.WanDiT, text: torch.Tensor, config: _C.Config, name: str) -> torch.Tensor:
    run = dit.generate(text, latent_frames=6, seed=0, **config.generation)
    blocks = []
    start = time.perf_counter()
    for block in run:  # the C++ loop runs without the GIL between blocks
        blocks.append(block)
        print(f"{name}: block {run.blocks_done}/{run.num_blocks} {tuple(block.shape)} "
              f"at {time.perf_counter() - start:.2f} s")
    print(f"{name}: caches {run.cache_bytes} bytes")
    return torch.cat(blocks, dim=2)  # [B, C, F, H, W]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs/tiny-hybrid50.yaml"))
    parser.add_argument("--out", default=str(ROOT / "runs/example-generate"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # Any config value can be overridden as on the command line (`--set`): here a small latent for the CPU.
    config = _C.load_config(
        args.config, ["inference.frames_per_block=2", "inference.latent_height=4", "inference.latent_width=6"]
    )
    print(f"config {args.config} (hash {config.hash}): model {config.model}, hybrid {config.hybrid}")

    teacher = _C.WanDiT(config.model, dtype="float32", device="cpu")
    with torch.no_grad():  # Wan's initialisation zeroes the output head: draw every weight at a trained scale
        for p in teacher.state_dict().values():  # the tensors themselves
            p.normal_(0.0, p[0].numel() ** -0.5 if p.dim() > 1 else 0.25)
    teacher.save(str(out / "teacher.safetensors"))

    hybrid = _C.WanDiT(config.model, dtype="float32", device="cpu")
    hybrid.load(str(out / "teacher.safetensors"))  # Wan's state-dict names
    converted = hybrid.convert_to_hybrid(**config.hybrid)
    groups = hybrid.parameter_groups()
    print(f"hybrid layers {converted}; new parameters: {len(groups['hybrid'])} tensors, {len(groups['lora'])} LoRA")

    # Stand-ins for a prompt's umT5 embeddings (scripts/encode_prompts.py): [B, L, text_dim].
    text = torch.randn(1, 5, config.model["text_dim"], generator=torch.Generator().manual_seed(0))
    video = generate(hybrid, text, config, "hybrid")
    reference = generate(teacher, text, config, "teacher")
    print(f"latents {tuple(video.shape)}; hybrid vs teacher RMS difference "
          f"{(video - reference).pow(2).mean().sqrt().item():.4f} (the memory path is untrained)")
    hybrid.save(str(out / "hybrid.safetensors"))
    print(f"wrote {out / 'hybrid.safetensors'}")


if __name__ == "__main__":
    main()
