"""Where a generated block's time goes: torch.profiler over a few blocks of scripts/bench_generate.py's
setup (Wan-1.3B dims, random weights, bf16, 60 x 104 latents), after one untimed block. Prints the
operators ranked by their own device time (the kernels each ATen or arl2 op launched, summed; kernel
rows are not listed again) and writes the table, with the totals, as JSON.

    python3 scripts/profile_generate.py --model hybrid100 --blocks 2 --json profile.json
    python3 scripts/profile_generate.py --model hybrid100 --by-shape     # one row per op and input shapes
    python3 scripts/profile_generate.py --preset tiny --device cpu --latent-height 4 --latent-width 6
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import MODELS, build_model, prompt_embedding  # noqa: E402


def generate(dit, text, blocks, args):
    # Eager passes: a CUDA graph's replay has no launching op to charge its kernels to.
    run = dit.generate(text, blocks * args.frames_per_block, seed=args.seed, frames_per_block=args.frames_per_block,
                       latent_height=args.latent_height, latent_width=args.latent_width, cuda_graphs=False)
    for _ in run:
        pass


def profile_blocks(args):
    device = torch.device(args.device)
    dit, _ = build_model(args.model, args)
    text = prompt_embedding(dit.config, args.seed).to(device=device, dtype=getattr(torch, args.dtype))
    generate(dit, text, 1, args)  # start-up and kernel selection, not profiled
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=args.by_shape) as prof:
        generate(dit, text, args.blocks, args)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    on_device = device.type == "cuda"
    rows = []
    for e in prof.key_averages(group_by_input_shape=args.by_shape):
        if e.device_type != DeviceType.CPU:  # a kernel: already counted in the op that launched it
            continue
        self_us = e.self_device_time_total if on_device else e.self_cpu_time_total
        if self_us > 0:
            row = {"op": e.key, "calls": e.count, "self_ms": self_us / 1e3}
            if args.by_shape:
                row["shapes"] = str(e.input_shapes)
            rows.append(row)
    rows.sort(key=lambda r: -r["self_ms"])
    total = sum(r["self_ms"] for r in rows)
    return {
        "device": torch.cuda.get_device_name(device) if on_device else "cpu",
        "model": args.model,
        "preset": args.preset,
        "dtype": args.dtype,
        "blocks": args.blocks,
        "time": "device" if on_device else "cpu",
        "total_ms": total,
        "per_block_ms": total / args.blocks,
        "ops": rows,
    }


def format_table(result, top):
    lines = [f"{result['model']} on {result['device']}, {result['blocks']} blocks: {result['total_ms']:.1f} ms of "
             f"{result['time']} time ({result['per_block_ms']:.1f} ms a block)",
             f"{'op':<60} {'calls':>7} {'self ms':>10} {'share':>7}"]
    for r in result["ops"][:top]:
        lines.append(f"{r['op'][:60]:<60} {r['calls']:>7} {r['self_ms']:>10.2f} "
                     f"{100 * r['self_ms'] / result['total_ms']:>6.1f}%" + (f"  {r['shapes']}" if "shapes" in r else ""))
    return "\n".join(lines)


def write_json(path, result):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(MODELS), default="hybrid100")
    parser.add_argument("--blocks", type=int, default=2, help="blocks profiled after the untimed one")
    parser.add_argument("--preset", default="wan2.1-t2v-1.3b")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float64"])
    parser.add_argument("--latent-height", type=int, default=60)
    parser.add_argument("--latent-width", type=int, default=104)
    parser.add_argument("--frames-per-block", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=40, help="rows printed")
    parser.add_argument("--by-shape", action="store_true", help="one row per op and input shapes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.blocks < 1:
        parser.error("--blocks must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    result = profile_blocks(args)
    print(format_table(result, args.top))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
