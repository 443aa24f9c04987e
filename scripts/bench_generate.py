"""Benchmark of block-by-block generation (csrc/inference, through arl2._C): the softmax baseline against the
hybrids of configs/wan2.1-1.3b-hybrid{50,75,100}.yaml at several video lengths, with the targets of
docs/performance.md ("Targets").

Wan-1.3B dims with random weights (no download), one prompt (a random text embedding), bf16, 480 x 832 pixels
(60 x 104 latents, 4680 tokens a block of 3 latent frames), Self Forcing's 4 steps + 1 clean pass a block.
Per (model, length): the wall time of the whole loop (one device synchronisation, at its end), the median
block (CUDA events between blocks, so no synchronisation inside the loop), the peak of allocated memory
(weights included), the bytes held by the caches, and speed-up and memory saving against the baseline at the
same length. Each model first makes one untimed block, so CUDA start-up and kernel selection are not counted.
A run that runs out of memory is recorded as OOM and the benchmark goes on. The JSON is rewritten after every
run, so a call cut short keeps what it measured.

    python3 scripts/bench_generate.py --json gen.json --png gen.png          # the whole plan, ~12 min
    python3 scripts/bench_generate.py --models hybrid100 --frames 81 321 --json quick.json
    python3 scripts/bench_generate.py --merge a.json b.json --json all.json --png all.png
    python3 scripts/bench_generate.py --plot-from all.json                   # all.png, where matplotlib is

Lengths are pixel frames (latent frames = 1 + (pixels - 1) / 4): 81, 321, 921 and 1005 for every model, and
4113 (1029 latent frames, past Wan's 1024-row position table) for hybrid-100% only.

Time on the H200, on paper. Linear layers: ~2.6 GFLOP a token (q/k/v/o, cross-attention q/o and the FFN of 30
layers of dim 1536), 4680 tokens x 5 passes = 61 TFLOP a block, ~0.10 s at ~600 TFLOP/s. Softmax attention:
4 x 4680 x 4680 x 1536 FLOP = 135 GFLOP a layer, pass and block of keys, ~0.27 ms at ~500 TFLOP/s; block n
(1-based) of the baseline reads n blocks of keys in 30 layers x 5 passes, so N blocks cost
0.10 N + 0.040 N (N + 1) / 2 s. A hybrid layer reads only its own block (plus the state: ~0.3 ms a block).

    seconds      81 (7 blocks)  321 (27)  921 (77)  1005 (84)  4113 (343)  all
    baseline          1.8          18       129        153          -        302
    hybrid50          1.4          11        70         83          -        166
    hybrid75          1.3           8        43         50          -        102
    hybrid100         1.0           4        12         13         51         80

(An eager PyTorch implementation with fla's kernels takes 118 s for the baseline at 921 frames.) With ~10 s a model
to build it and warm up, the whole plan is ~11-12 min: more than one 10-minute device call. Split it into three
calls (each writes $OUT/bench_generate.json; the first also builds arl2._C, a few minutes on a fresh machine):
    bash scripts/device_bench_generate.sh --models hybrid100 hybrid75      # ~3.5 min
    bash scripts/device_bench_generate.sh --models baseline                # ~5.5 min
    bash scripts/device_bench_generate.sh --models hybrid50                # ~3 min
and combine the three files with --merge (which refuses files from different devices or settings).
"""
import argparse
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import arl2  # noqa: E402,F401  (loads the op library)
from arl2 import _C  # noqa: E402

# Hybrid ratio of each model, converted as configs/wan2.1-1.3b-hybrid{50,75,100}.yaml say.
MODELS = {"baseline": None, "hybrid50": 0.5, "hybrid75": 0.75, "hybrid100": 1.0}
HYBRID_OPTIONS = dict(policy="first", lora=True, lora_rank=16, lora_alpha=32.0)
FRAMES = [81, 321, 921, 1005]
EXTRA_FRAMES = {"hybrid100": [4113]}  # only constant memory goes past Wan's position table
TARGET_FRAMES = 921  # the length the targets are stated at (docs/performance.md, "Targets")
FLAT_TOLERANCE = 0.05  # "flat memory": peak at the longest length within 5% of the shortest
GiB = 2**30
# What must agree for results to be combined by --merge.
SETTING_KEYS = ("device", "preset", "dtype", "latent_height", "latent_width", "frames_per_block", "cuda_graphs")


def latent_frames(pixel_frames, frames_per_block):
    """Wan's VAE: the first pixel frame alone, then 4 a latent frame; whole blocks only."""
    latent = 1 + (pixel_frames - 1) // 4
    if pixel_frames < 1 or (pixel_frames - 1) % 4 or latent % frames_per_block:
        raise ValueError(f"{pixel_frames} pixel frames are not 1 + 4 n frames making whole blocks of "
                         f"{frames_per_block} latent frames")
    return latent


def build_model(name, args):
    """A fresh model with the same random base weights for every name; (model, number of hybrid layers)."""
    torch.manual_seed(args.seed)
    dit = _C.WanDiT(args.preset, dtype=args.dtype, device=args.device)
    ratio = MODELS[name]
    hybrid = [] if ratio is None else dit.convert_to_hybrid(ratio=ratio, **HYBRID_OPTIONS)
    dit.merge_ffn_lora()  # as an exported hybrid runs: the FFN adapters in the weights
    return dit, len(hybrid)


def prompt_embedding(config, seed):
    """One prompt's text embedding [1, text_len, text_dim], the same for every model."""
    return torch.randn(1, config["text_len"], config["text_dim"], generator=torch.Generator().manual_seed(seed))


def clock(device):
    if device.type == "cuda":
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event
    return time.perf_counter()


def elapsed_ms(start, end):
    return start.elapsed_time(end) if isinstance(start, torch.cuda.Event) else (end - start) * 1e3


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_generation(dit, text, frames, args, device):
    """Generates `frames` latent frames; wall time of the loop, each block's ms, peak and cache bytes."""
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    run = dit.generate(text, frames, seed=args.seed, frames_per_block=args.frames_per_block,
                       latent_height=args.latent_height, latent_width=args.latent_width,
                       cuda_graphs=not args.no_cuda_graphs)
    cache_bytes = run.cache_bytes
    synchronize(device)
    start = time.perf_counter()
    marks = [clock(device)]
    for _ in run:
        marks.append(clock(device))
    synchronize(device)
    wall_s = time.perf_counter() - start
    block_ms = [elapsed_ms(a, b) for a, b in zip(marks, marks[1:])]
    return {
        "wall_s": wall_s,
        "block_ms_median": statistics.median(block_ms),
        "block_ms": block_ms,
        "peak_bytes": torch.cuda.max_memory_allocated(device) if on_cuda else None,
        "cache_bytes": cache_bytes,
    }


def measure(dit, text, frames, args, device):
    """time_generation's figures with status "ok", or status "oom" and the error's first line."""
    try:
        return {"status": "ok", **time_generation(dit, text, frames, args, device)}
    except torch.OutOfMemoryError as e:
        return {"status": "oom", "error": str(e).splitlines()[0]}
    finally:
        release_memory(device)  # the run's caches go before the next one allocates its own


def release_memory(device):
    """Hands cached blocks back, so each run's peak counts its own allocations (a no-op on the CPU)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def add_ratios(runs):
    """Speed-up and memory saving of every hybrid's run against the baseline's run at the same length."""
    baseline = {r["pixel_frames"]: r for r in runs if r["model"] == "baseline" and r["status"] == "ok"}
    for r in runs:
        base = baseline.get(r["pixel_frames"])
        ok = r["status"] == "ok" and base is not None and r["model"] != "baseline"
        r["speedup_vs_baseline"] = base["wall_s"] / r["wall_s"] if ok else None
        r["memory_saving_vs_baseline"] = (1 - r["peak_bytes"] / base["peak_bytes"]
                                          if ok and r["peak_bytes"] and base["peak_bytes"] else None)


def evaluate_targets(runs):
    """The generation targets (docs/performance.md, "Targets"): each with the measured value ("OOM" for a run out
    of memory) and met true / false, or None when these results lack the runs it needs."""
    by_key = {(r["model"], r["pixel_frames"]): r for r in runs}

    def at_target(model, key, scale=1):
        r = by_key.get((model, TARGET_FRAMES))
        if r is None or r["status"] == "oom":
            return None if r is None else "OOM"
        return None if r[key] is None else r[key] / scale

    def target(name, statement, value, check, unit):
        return {"name": name, "statement": statement, "value": value, "unit": unit,
                "met": None if value is None else value != "OOM" and check(value)}

    full = sorted((r for r in runs if r["model"] == "hybrid100"), key=lambda r: r["pixel_frames"])
    max_peak = flat = None
    if any(r["status"] == "oom" for r in full):
        max_peak = flat = "OOM"
    elif full and full[0]["peak_bytes"] is not None:
        peaks = [r["peak_bytes"] for r in full]
        max_peak = max(peaks) / GiB
        if full[0]["pixel_frames"] <= 81 and full[-1]["pixel_frames"] >= 4000:
            flat = peaks[-1] / peaks[0] - 1
    return [
        target("baseline_time", f"baseline <= 110 s at {TARGET_FRAMES} frames",
               at_target("baseline", "wall_s"), lambda v: v <= 110, "s"),
        target("hybrid75_speedup", f"hybrid75 >= 2.8x faster than the baseline at {TARGET_FRAMES} frames",
               at_target("hybrid75", "speedup_vs_baseline"), lambda v: v >= 2.8, "x"),
        target("hybrid100_speedup", f"hybrid100 >= 8x faster than the baseline at {TARGET_FRAMES} frames",
               at_target("hybrid100", "speedup_vs_baseline"), lambda v: v >= 8, "x"),
        target("hybrid75_peak", f"hybrid75 peak <= 20 GiB at {TARGET_FRAMES} frames",
               at_target("hybrid75", "peak_bytes", GiB), lambda v: v <= 20, "GiB"),
        target("hybrid100_peak", "hybrid100 peak <= 4 GiB at every length", max_peak, lambda v: v <= 4, "GiB"),
        target("hybrid100_flat", f"hybrid100 peak flat from 81 to 4000+ frames (longest within "
               f"{FLAT_TOLERANCE:.0%} of shortest)", flat, lambda v: abs(v) <= FLAT_TOLERANCE, "relative change"),
    ]


def human_bytes(n):
    if n is None:
        return "-"
    for unit, size in (("GiB", GiB), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def format_table(runs):
    header = (f"{'model':<10} {'frames':>6} {'latent':>6} {'blocks':>6} {'wall s':>9} {'block ms':>9} "
              f"{'peak':>11} {'caches':>11} {'speed-up':>8} {'mem saved':>9}")
    lines = [header, "-" * len(header)]
    for r in runs:
        head = f"{r['model']:<10} {r['pixel_frames']:>6} {r['latent_frames']:>6} {r['blocks']:>6}"
        if r["status"] == "oom":
            lines.append(f"{head} {'OOM':>9}")
            continue
        speedup, saving = r["speedup_vs_baseline"], r["memory_saving_vs_baseline"]
        lines.append(f"{head} {r['wall_s']:9.2f} {r['block_ms_median']:9.1f} {human_bytes(r['peak_bytes']):>11} "
                     f"{human_bytes(r['cache_bytes']):>11} {'-' if speedup is None else f'{speedup:.2f}x':>8} "
                     f"{'-' if saving is None else f'{saving:.0%}':>9}")
    return "\n".join(lines)


def format_targets(targets):
    def shown(t):
        v = t["value"]
        if v is None or isinstance(v, str):
            return "not measured" if v is None else v
        return f"{v:+.1%}" if t["unit"] == "relative change" else f"{v:.3g} {t['unit']}"

    verdict = {True: "met", False: "NOT MET", None: "-"}
    return "\n".join(f"{verdict[t['met']]:>7}  {t['statement']}: {shown(t)}" for t in targets)


def write_json(path, result):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)


def pyplot():
    """matplotlib.pyplot drawing to files, or None where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def draw_plot(result, path):
    """Time and peak memory against length, a line per model; returns why not when matplotlib is missing."""
    plt = pyplot()
    if plt is None:
        return "matplotlib is not installed: draw the plot elsewhere with --plot-from JSON"
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(12, 4.5))
    for model in MODELS:
        runs = [r for r in result["runs"] if r["model"] == model]
        ok = [r for r in runs if r["status"] == "ok"]
        if not runs:
            continue
        oom = [str(r["pixel_frames"]) for r in runs if r["status"] == "oom"]
        label = model + (f" (OOM at {', '.join(oom)})" if oom else "")
        frames = [r["pixel_frames"] for r in ok]
        ax_time.plot(frames, [r["wall_s"] for r in ok], marker="o", label=label)
        if all(r["peak_bytes"] is not None for r in ok):
            ax_mem.plot(frames, [r["peak_bytes"] / GiB for r in ok], marker="o", label=label)
    ax_time.set(xscale="log", yscale="log", xlabel="pixel frames", ylabel="generation time (s)")
    ax_mem.set(xscale="log", xlabel="pixel frames", ylabel="peak allocated memory (GiB)")
    ax_mem.set_ylim(bottom=0)
    for ax in (ax_time, ax_mem):
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no peak memory: measured on CUDA only", transform=ax.transAxes, ha="center")
    fig.suptitle(f"{result['preset']}, {result['latent_height']} x {result['latent_width']} latents, "
                 f"{result['dtype']}, {result['device']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def merge_results(paths):
    """One result from several files of the same device and settings; a later file's run of a (model,
    length) replaces an earlier one's."""
    results = [json.loads(Path(p).read_text()) for p in paths]
    merged = dict(results[0])
    for path, other in zip(paths[1:], results[1:]):
        for key in SETTING_KEYS:
            if other[key] != merged[key]:
                raise SystemExit(f"--merge: {path} has {key} {other[key]!r}, {paths[0]} has {merged[key]!r}")
    runs = {}
    for result in results:
        runs.update({(r["model"], r["pixel_frames"]): r for r in result["runs"]})
    order = list(MODELS)
    merged["runs"] = sorted(runs.values(), key=lambda r: (order.index(r["model"]), r["pixel_frames"]))
    return merged


def finish(result, json_path):
    """Ratios and targets from the runs so far; writes the JSON when given a path."""
    add_ratios(result["runs"])
    result["targets"] = evaluate_targets(result["runs"])
    if json_path:
        write_json(json_path, result)


def report(result, args):
    if args.png:
        result["plot"] = draw_plot(result, args.png) or str(args.png)
    finish(result, args.json)
    print(format_table(result["runs"]))
    print(f"\nTargets, docs/performance.md ({result['device']}; absolute times hold on the H200 only):")
    print(format_targets(result["targets"]))
    if args.png:
        print(f"plot: {result['plot']}")
    if args.json:
        print(f"wrote {args.json}")


def plan(args):
    """(model, pixel frames) pairs in order: --frames for every model, else each model's default lengths."""
    return [(m, f) for m in args.models for f in (args.frames or FRAMES + EXTRA_FRAMES.get(m, []))]


def run_benchmark(args):
    device = torch.device(args.device)
    pairs = plan(args)
    for _, frames in pairs:  # a bad length fails here, before any model is built
        latent_frames(frames, args.frames_per_block)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "preset": args.preset,
        "dtype": args.dtype,
        "latent_height": args.latent_height,
        "latent_width": args.latent_width,
        "frames_per_block": args.frames_per_block,
        "cuda_graphs": not args.no_cuda_graphs,
        "passes_per_block": "4 denoising steps [1000, 750, 500, 250] warped at shift 5, then 1 clean pass",
        "seed": args.seed,
        "warmup": "one untimed block per model",
        "runs": [],
    }
    print(f"device {device} ({result['device']}), {args.preset} {args.dtype}, latents "
          f"{args.latent_height} x {args.latent_width}, {len(pairs)} runs", flush=True)
    for model in args.models:
        lengths = [f for m, f in pairs if m == model]
        if not lengths:
            continue
        dit, hybrid_layers = build_model(model, args)
        text = prompt_embedding(dit.config, args.seed).to(device, getattr(torch, args.dtype))
        result["text"] = f"1 prompt, random {list(text.shape)}"
        measure(dit, text, args.frames_per_block, args, device)
        for frames in lengths:
            latent = latent_frames(frames, args.frames_per_block)
            run = {"model": model, "hybrid_layers": hybrid_layers, "pixel_frames": frames, "latent_frames": latent,
                   "blocks": latent // args.frames_per_block, **measure(dit, text, latent, args, device)}
            result["runs"].append(run)
            shown = "OOM" if run["status"] == "oom" else f"{run['wall_s']:.2f} s, peak {human_bytes(run['peak_bytes'])}"
            print(f"{model:<10} {frames:>5} frames: {shown}", flush=True)
            finish(result, args.json)
        del dit
        release_memory(device)
    return result


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--frames", nargs="+", type=int, default=None,
                        help=f"pixel frames, for every model (default {FRAMES}, and {EXTRA_FRAMES} besides)")
    parser.add_argument("--preset", default="wan2.1-t2v-1.3b", choices=_C.model_presets())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float64"])
    parser.add_argument("--latent-height", type=int, default=60, help="latent rows (default 60: 480 pixels)")
    parser.add_argument("--latent-width", type=int, default=104, help="latent columns (default 104: 832 pixels)")
    parser.add_argument("--frames-per-block", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cuda-graphs", action="store_true",
                        help="run every pass eagerly (by default hybrid100's denoising passes replay a CUDA graph)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here (after every run)")
    parser.add_argument("--png", type=Path, default=None, help="draw time and memory against length here")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="JSON",
                        help="measure nothing: combine these result files into one table, --json and --png")
    parser.add_argument("--plot-from", type=Path, default=None, metavar="JSON",
                        help="measure nothing: draw the PNG (--png, default JSON's name .png) of a result file")
    args = parser.parse_args(argv)
    if args.plot_from:
        args.merge = [args.plot_from]
        args.png = args.png or args.plot_from.with_suffix(".png")
    return args


def main(argv=None):
    args = parse_args(argv)
    report(merge_results(args.merge) if args.merge else run_benchmark(args), args)


if __name__ == "__main__":
    main()
