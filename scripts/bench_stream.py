"""Streaming benchmark: text to decoded frames in a session (arl2._C.Session, arl2.streaming), with Wan's VAE.

Wan-1.3B dims with random weights, and the real Wan2.1 VAE architecture (diffusers' AutoencoderKLWan at its
defaults) with random weights: no download. One prompt (a random text embedding), bf16, 480 x 832 pixels (60 x 104
latents), Self Forcing's 4 steps and a clean pass a block of 3 latent frames. Each model runs one session of
--frames pixel frames. The DiT makes block i+1 on its own stream while the VAE decodes block i and the frames go to
the CPU, as `python -m arl2.video` runs it, short of the H.264 encode. Models with softmax layers keep a rolling
window (--window latent frames, --sinks of them sink frames).

Per model:
  first_frame_s   from the session's start to the first block's frames on the CPU (the prompt already encoded)
  sustained_fps   decoded pixel frames per second from the end of the first block to the end of the last
  dit_fps, vae_fps  the frames per second each stage alone would allow (its busy time; they overlap)
  memory          allocated device memory after each block: the first tenth's peak, the last tenth's peak, and
                  their relative change (flat: within --flat-tolerance)
Each model first runs two untimed blocks in a session of its own, so CUDA start-up and kernel selection are not
counted. The JSON is rewritten after every model, so a call cut short keeps what it measured.

    python3 scripts/bench_stream.py --json stream.json --png stream.png               # H200: ~4 min a model
    python3 scripts/bench_stream.py --models hybrid100 --frames 241 --json quick.json
    python3 scripts/bench_stream.py --device cpu --preset tiny --vae tiny --frames 25 --latent-height 4 \\
        --latent-width 6 --json smoke.json                                              # the CPU smoke test
"""
import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from bench_generate import build_model, human_bytes, prompt_embedding, pyplot, write_json  # noqa: E402

from arl2 import _C  # noqa: E402
from arl2.streaming import decoded_blocks  # noqa: E402
from arl2.wan_vae import StreamingDecoder  # noqa: E402

GiB = 2**30
MODELS = ("baseline", "hybrid75", "hybrid100")
# The VAE's architecture: Wan2.1's (diffusers' defaults), or a tiny one for the CPU smoke test.
VAES = {
    "wan": {},
    "tiny": dict(base_dim=8, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True],
                 scale_factor_spatial=4),
}
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def make_vae(name, dtype, device, seed):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    return AutoencoderKLWan(**VAES[name]).to(device=device, dtype=DTYPES[dtype]).eval()


def memory_now(device):
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else None


def stream(dit, vae, text, blocks, args, windowed, device):
    """One session of `blocks` blocks through the decoder: per block, when its frames reached the CPU, the frames,
    the stage times and the memory after it."""
    options = dict(frames_per_block=args.frames_per_block, latent_height=args.latent_height,
                   latent_width=args.latent_width)
    if windowed:
        options.update(kv_window_frames=args.window, kv_sink_frames=args.sinks)
    start = time.perf_counter()
    session = _C.Session(dit, text, seed=args.seed, **options)
    rows = []
    for block in decoded_blocks(session, StreamingDecoder(vae), blocks):
        rows.append({"done_s": time.perf_counter() - start, "frames": block.frames.shape[1],
                     "generate_s": block.generate_s, "decode_s": block.decode_s, "memory": memory_now(device)})
    return rows


def measure(name, args, device, blocks):
    dit, hybrid_layers = build_model(name, args)
    windowed = hybrid_layers < dit.config["num_layers"]  # softmax layers left: they need the window
    vae = make_vae(args.vae, args.vae_dtype, device, args.seed)
    text = prompt_embedding(dit.config, args.seed).to(device)
    stream(dit, vae, text, 2, args, windowed, device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    try:
        rows = stream(dit, vae, text, blocks, args, windowed, device)
    except torch.OutOfMemoryError as e:
        return {"model": name, "status": "oom", "error": str(e).splitlines()[0]}
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    frames = sum(r["frames"] for r in rows)
    later = rows[1:]
    span = rows[-1]["done_s"] - rows[0]["done_s"]
    tenth = max(1, len(rows) // 10)
    memory = [r["memory"] for r in rows]
    first, last = (max(memory[:tenth]), max(memory[-tenth:])) if memory[0] is not None else (None, None)
    result = {
        "model": name,
        "status": "ok",
        "hybrid_layers": hybrid_layers,
        "window": {"frames": args.window, "sinks": args.sinks} if windowed else None,
        "blocks": len(rows),
        "pixel_frames": frames,
        "first_frame_s": rows[0]["done_s"],
        "sustained_fps": sum(r["frames"] for r in later) / span if later else None,
        "dit_fps": frames / sum(r["generate_s"] for r in rows),
        "vae_fps": frames / sum(r["decode_s"] for r in rows),
        "block_generate_ms_median": 1e3 * statistics.median(r["generate_s"] for r in rows),
        "block_decode_ms_median": 1e3 * statistics.median(r["decode_s"] for r in rows),
        "memory_first_tenth": first,
        "memory_last_tenth": last,
        "memory_change": None if first is None else last / first - 1,
        "peak_bytes": peak,
        "memory_per_block": memory,
        "done_s": [r["done_s"] for r in rows],
    }
    del dit, vae
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def evaluate_targets(runs, flat_tolerance, at_target_setting):
    """The streaming targets (docs/performance.md): each with the measured value and met true / false; met is None
    where the value is missing or the setting is not the targets' (Wan-1.3B, Wan's VAE, 60 x 104 latents)."""
    by_model = {r["model"]: r for r in runs if r["status"] == "ok"}

    def target(statement, model, key, check):
        value = by_model.get(model, {}).get(key)
        return {"statement": statement, "value": value,
                "met": None if value is None or not at_target_setting else check(value)}

    return [
        target("hybrid100 >= 30 decoded frames per second, sustained", "hybrid100", "sustained_fps",
               lambda v: v >= 30),
        target("hybrid100 first frame <= 0.5 s after the prompt is encoded", "hybrid100", "first_frame_s",
               lambda v: v <= 0.5),
        target("hybrid100 memory flat over the session", "hybrid100", "memory_change",
               lambda v: abs(v) <= flat_tolerance),
        target("hybrid75 (window) memory flat over the session", "hybrid75", "memory_change",
               lambda v: abs(v) <= flat_tolerance),
    ]


def format_table(runs):
    header = (f"{'model':<10} {'frames':>6} {'first s':>8} {'fps':>7} {'DiT fps':>8} {'VAE fps':>8} "
              f"{'mem first':>10} {'mem last':>10} {'change':>7} {'peak':>10}")
    lines = [header, "-" * len(header)]
    for r in runs:
        if r["status"] != "ok":
            lines.append(f"{r['model']:<10} {'OOM':>6}")
            continue
        change = "-" if r["memory_change"] is None else f"{r['memory_change']:+.1%}"
        fps = "-" if r["sustained_fps"] is None else f"{r['sustained_fps']:.1f}"
        lines.append(f"{r['model']:<10} {r['pixel_frames']:>6} {r['first_frame_s']:8.3f} {fps:>7} "
                     f"{r['dit_fps']:8.1f} {r['vae_fps']:8.1f} {human_bytes(r['memory_first_tenth']):>10} "
                     f"{human_bytes(r['memory_last_tenth']):>10} {change:>7} {human_bytes(r['peak_bytes']):>10}")
    return "\n".join(lines)


def draw_plot(result, path):
    """Decoded frames against time and memory against frames, a line per model."""
    plt = pyplot()
    if plt is None:
        return "matplotlib is not installed"
    fig, (ax_frames, ax_mem) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in result["runs"]:
        if r["status"] != "ok":
            continue
        per_block = r["pixel_frames"] / r["blocks"]
        frames = [per_block * (i + 1) for i in range(r["blocks"])]
        ax_frames.plot(r["done_s"], frames, label=r["model"])
        if r["memory_per_block"][0] is not None:
            ax_mem.plot(frames, [m / GiB for m in r["memory_per_block"]], label=r["model"])
    ax_frames.set(xlabel="seconds since the session started", ylabel="decoded pixel frames")
    ax_mem.set(xlabel="decoded pixel frames", ylabel="allocated device memory (GiB)")
    ax_mem.set_ylim(bottom=0)
    for ax in (ax_frames, ax_mem):
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.suptitle(f"{result['preset']} + {result['vae']} VAE, {result['latent_height']} x {result['latent_width']} "
                 f"latents, {result['device_name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--frames", type=int, default=2005, help="pixel frames a session makes at least (whole blocks)")
    parser.add_argument("--window", type=int, default=21, help="rolling window of the softmax layers, latent frames")
    parser.add_argument("--sinks", type=int, default=3, help="sink frames of the window")
    parser.add_argument("--preset", default="wan2.1-1.3b")
    parser.add_argument("--dtype", default="bfloat16", choices=DTYPES)
    parser.add_argument("--vae", default="wan", choices=VAES)
    parser.add_argument("--vae-dtype", default="bfloat16", choices=DTYPES)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--frames-per-block", type=int, default=3)
    parser.add_argument("--latent-height", type=int, default=60)
    parser.add_argument("--latent-width", type=int, default=104)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flat-tolerance", type=float, default=0.05)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    if args.frames < 2:
        parser.error(f"--frames must be at least 2, got {args.frames}")
    device = torch.device(args.device)
    latent = 1 + -(-(args.frames - 1) // 4)
    blocks = -(-latent // args.frames_per_block)
    result = {
        "benchmark": "stream", "device": args.device, "preset": args.preset, "dtype": args.dtype, "vae": args.vae,
        "vae_dtype": args.vae_dtype, "latent_height": args.latent_height, "latent_width": args.latent_width,
        "frames_per_block": args.frames_per_block, "blocks": blocks,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "runs": [],
    }
    at_target_setting = (args.preset, args.vae, args.latent_height, args.latent_width) == ("wan2.1-1.3b", "wan", 60, 104)
    for name in args.models:
        print(f"{name}: {blocks} blocks ...", flush=True)
        result["runs"].append(measure(name, args, device, blocks))
        result["targets"] = evaluate_targets(result["runs"], args.flat_tolerance, at_target_setting)
        if args.json:
            write_json(args.json, result)
    if args.png:
        result["plot"] = draw_plot(result, args.png) or str(args.png)
    print(format_table(result["runs"]))
    verdict = {True: "met", False: "NOT MET", None: "-"}
    print(f"\nTargets (docs/performance.md, stated for the H200; measured on {result['device_name']}):")
    for t in result["targets"]:
        value = "not measured" if t["value"] is None else f"{t['value']:.4g}"
        print(f"{verdict[t['met']]:>7}  {t['statement']}: {value}")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
