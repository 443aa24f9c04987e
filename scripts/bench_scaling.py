"""Data-parallel scaling of training: `arl2 bench train` on 1 GPU, then under torchrun on N GPUs for each N
asked for, the same per-rank batch each time (weak scaling: the global batch grows with N). For each N it
also runs one GPU over the same global batch (train.grad_accumulation = N) and compares the trainable
parameters after the steps: every rank's must equal rank 0's bit for bit, and rank 0's must match the single
GPU's up to rounding. Prints a table; --out writes it as Markdown plus the JSON of every run.

    python3 scripts/bench_scaling.py --arl2 build/device/csrc/arl2 \\
        --config configs/wan2.1-1.3b-train-stage2.yaml --gpus 1 2 4 8 --out docs/scaling

Efficiency at N GPUs is clips/s at N over N times clips/s at 1. NCCL_NVLS_ENABLE=0 is kept set for every run.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arl2", required=True, help="the arl2 executable")
    p.add_argument("--config", required=True, help="a training config (its train.device should be cuda)")
    p.add_argument("--set", action="append", default=[], dest="overrides", help="config override, repeatable")
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 2], help="world sizes to run (1 is always run)")
    p.add_argument("--latent-frames", type=int, default=21)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--no-reference", action="store_true", help="skip the single-GPU runs over each global batch")
    p.add_argument("--out", help="folder for scaling.md and scaling.json")
    args = p.parse_args()
    if any(n < 1 for n in args.gpus):
        p.error("--gpus: world sizes must be positive")
    available = torch.cuda.device_count()
    if max(args.gpus) > max(available, 1):
        p.error(f"--gpus: {max(args.gpus)} GPUs asked for, this machine has {available}")
    return args


def bench(args, world, work, name, extra=()):
    """One `arl2 bench train` run (under torchrun when world > 1); returns its JSON and its parameter folder."""
    json_path = os.path.join(work, f"{name}.json")
    params = os.path.join(work, name)
    command = [args.arl2, "bench", "train", "--config", args.config, "--latent-frames", str(args.latent_frames),
               "--warmup", str(args.warmup), "--steps", str(args.steps), "--json", json_path,
               "--save-trainable", params]
    for o in [*args.overrides, *extra]:
        command += ["--set", o]
    if world > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}",
                   "--no-python", *command]
    env = dict(os.environ, NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1", NVSHMEM_DISABLE_NVLS="1")
    print(f"== {name}: {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, env=env)
    with open(json_path) as f:
        return json.load(f), params


def compare(params, world, reference):
    """Max |difference| between ranks (must be 0), and rank 0 against the reference relative to its scale."""
    rank0 = load_file(os.path.join(params, "trainable.rank0.safetensors"))
    between_ranks = 0.0
    for r in range(1, world):
        other = load_file(os.path.join(params, f"trainable.rank{r}.safetensors"))
        between_ranks = max(between_ranks, max((other[k] - v).abs().max().item() for k, v in rank0.items()))
    result = {"max_abs_difference_between_ranks": between_ranks}
    if reference:
        ref = load_file(os.path.join(reference, "trainable.rank0.safetensors"))
        diff = max((rank0[k].double() - v.double()).abs().max().item() for k, v in ref.items())
        scale = max(v.double().abs().max().item() for v in ref.values())
        result["max_abs_difference_to_one_gpu"] = diff
        result["relative_difference_to_one_gpu"] = diff / scale
    return result


def main():
    args = parse_args()
    work = tempfile.mkdtemp(prefix="arl2_scaling_")
    try:
        runs = []
        base, _ = bench(args, 1, work, "gpus1")
        runs.append({"gpus": 1, "bench": base})
        for world in sorted(set(args.gpus) - {1}):
            result, params = bench(args, world, work, f"gpus{world}")
            reference = None
            if not args.no_reference:
                _, reference = bench(args, 1, work, f"gpus1_accumulating{world}",
                                     [f"train.grad_accumulation={world}"])
            runs.append({"gpus": world, "bench": result, **compare(params, world, reference)})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for run in runs:
        b = run["bench"]
        peaks = [r["peak_device_bytes"] or 0 for r in b["ranks"]]
        rows.append({
            "gpus": run["gpus"],
            "clips_per_s": b["clips_per_s"],
            "efficiency": b["clips_per_s"] / (run["gpus"] * base["clips_per_s"]),
            "median_step_ms": b["median_step_ms"],
            "all_reduce_ms": b["phases"]["all-reduce"]["median_ms"],
            "max_peak_gib": max(peaks) / 2**30,
            "ranks_agree": b["ranks_agree"],
            **{k: v for k, v in run.items() if k not in ("gpus", "bench")},
        })
    header = "| GPUs | clips/s | efficiency | step ms | all-reduce ms | peak GiB/GPU | ranks agree | vs 1 GPU (rel.) |"
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        rel = r.get("relative_difference_to_one_gpu")
        lines.append(f"| {r['gpus']} | {r['clips_per_s']:.3f} | {100 * r['efficiency']:.1f}% | "
                     f"{r['median_step_ms']:.1f} | {r['all_reduce_ms']:.1f} | {r['max_peak_gib']:.1f} | "
                     f"{'yes' if r['ranks_agree'] else 'NO'} | {'-' if rel is None else f'{rel:.2e}'} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        with open(os.path.join(args.out, "scaling.json.tmp"), "w") as f:
            json.dump({"device": gpu, "config": args.config, "overrides": args.overrides, "rows": rows,
                       "runs": runs}, f, indent=2)
        os.replace(os.path.join(args.out, "scaling.json.tmp"), os.path.join(args.out, "scaling.json"))
        with open(os.path.join(args.out, "scaling.md.tmp"), "w") as f:
            f.write(f"# Data-parallel scaling on {gpu}\n\n`{' '.join(sys.argv)}`\n\n{table}\n")
        os.replace(os.path.join(args.out, "scaling.md.tmp"), os.path.join(args.out, "scaling.md"))
        print(f"wrote {args.out}/scaling.md and scaling.json")
    if not all(r["ranks_agree"] and r.get("max_abs_difference_between_ranks", 0) == 0 for r in rows):
        sys.exit("the ranks' trainable parameters differ")


if __name__ == "__main__":
    main()
