#!/usr/bin/env python3
"""The main job's report: the long toy videos of the teacher and of each hybrid side by side, and how time and
memory grow with the video.

Reads what the main job (scripts/run.sh) left in RUN: `arl2 generate` folders for each model (latents.safetensors,
metrics.json) and, when present, `arl2 eval`'s eval.json. Writes into RUN:
  videos/prompt_<i>.gif   each prompt's videos side by side, left to right in the order of --models (Pillow);
                          without Pillow the contact sheets that `arl2 generate` wrote (video_<i>.png) stand in
  videos/switch_<i>.gif   with --switch: each video of that generate folder, whose prompts switch mid-video
  blocks.png              time per block and memory after each block against the frame index (matplotlib)
  eval.png                `arl2 eval`'s per-frame metrics against the frame index, a line per model, with a marker
                          at each tenth's mean of the longest rollout and of the continuation (matplotlib)
  summary.json            the figures of the tables below, with the longest rollout's per-tenth means of every
                          metric and its block flicker
and prints the tables. Any number of models; each keeps one colour in both plots. Without Pillow or matplotlib
the GIFs or plots are left out and said so, and the rest is written all the same.

    python3 scripts/toy_report.py --run runs/main --models teacher hybrid75
    python3 scripts/toy_report.py --run runs/main --models teacher hybrid50 hybrid75 hybrid100
    python3 scripts/toy_report.py --run runs/main --models teacher hybrid75 --switch switch
"""
import argparse
import json
import os
import statistics
import sys

GIF_SCALE = 4  # 32 x 32 frames are too small to watch
GIF_FRAME_MS = 80


def read_tensor(path, name):
    """One tensor of a safetensors file, through the safetensors package or, without it, its plain format."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        pass
    else:
        return load_file(path)[name]
    import struct

    import torch

    dtypes = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        info = json.loads(f.read(header_len))[name]
        begin, end = info["data_offsets"]
        f.seek(8 + header_len + begin)
        data = bytearray(f.read(end - begin))
    return torch.frombuffer(data, dtype=dtypes[info["dtype"]]).reshape(info["shape"])


def load_generation(folder):
    with open(os.path.join(folder, "metrics.json")) as f:
        metrics = json.load(f)
    latents = read_tensor(os.path.join(folder, "latents.safetensors"), "latents")  # [B, F, 3, H, W] in [-1, 1]
    return metrics, latents


def write_replacing(path, write):
    """write(tmp) to a temporary file next to `path` (same extension, for writers that go by it), then renamed
    over it: a reader never sees half a file."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{ext}"
    write(tmp)
    os.replace(tmp, path)


def pyplot():
    """matplotlib.pyplot drawing to files, or None where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def print_columns(lines):
    """Rows of cells as aligned columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))


def colours_for(names):
    """One matplotlib colour per name, in order (C0, C1, ...): the same model keeps its colour in every plot."""
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def write_gifs(out_dir, videos, name="prompt"):
    """One GIF per prompt (`name`_<i>.gif), the models' videos side by side with a 2-pixel gap; returns the paths or
    why not."""
    try:
        from PIL import Image
    except ImportError:
        return "Pillow is not installed: the contact sheets (video_<i>.png) of each model's folder show the videos"
    import torch

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    batch, frames = videos[0].shape[:2]
    for b in range(batch):
        gap = torch.full((frames, 3, videos[0].shape[3], 2), 1.0)  # white
        row = torch.cat([x for v in videos for x in (v[b], gap)][:-1], dim=3)  # [F, 3, H, W']
        pixels = ((row.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        images = [
            Image.fromarray(p).resize((p.shape[1] * GIF_SCALE, p.shape[0] * GIF_SCALE), Image.NEAREST)
            for p in pixels
        ]
        path = os.path.join(out_dir, f"{name}_{b}.gif")
        write_replacing(path, lambda tmp: images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=GIF_FRAME_MS, loop=0))
        paths.append(path)
    return paths


def block_frames(metrics):
    """Pixel frame index at the end of each block."""
    per_block = metrics["config"]["frames_per_block"]
    return [per_block * (i + 1) for i in range(len(metrics["block_ms"]))]


def plot_blocks(path, runs, colour):
    """Time per block and memory after each block against the frame index; returns why not, or None."""
    plt = pyplot()
    if plt is None:
        return "matplotlib is not installed: no plot (the figures are in summary.json)"
    fig, (ax_time, ax_cache, ax_mem) = plt.subplots(1, 3, figsize=(15, 4))
    for name, metrics in runs.items():
        x = block_frames(metrics)
        ax_time.plot(x, metrics["block_ms"], label=name, color=colour[name])
        ax_cache.plot(x, [b / 2**20 for b in metrics["block_cache_bytes"]], label=name, color=colour[name])
        ax_mem.plot(x, [b / 2**20 for b in metrics["block_memory_bytes"]], label=name, color=colour[name])
    kind = next(iter(runs.values()))["memory_kind"]
    for ax, title in (
        (ax_time, "time per block (ms)"),
        (ax_cache, "caches holding the past (MiB)"),
        (ax_mem, f"memory in use (MiB; {kind})"),
    ):
        ax.set_title(title)
        ax.set_xlabel("frame")
        ax.grid(alpha=0.3)
        ax.legend()
    ax_cache.set_ylim(bottom=0)
    fig.tight_layout()
    write_replacing(path, lambda tmp: fig.savefig(tmp, dpi=100))
    return None


ROLLOUT_METRICS = ("colour_recall", "spurious_colours", "count_error", "centroid_accel", "frame_change")


def tenth_centres(bounds, first=0):
    """The frame at the middle of each tenth, from eval.json's tenth_bounds."""
    return [first + (begin + end - 1) / 2 for begin, end in zip(bounds, bounds[1:])]


def plot_eval(path, report, colour):
    """Continuation error, the teacher-forcing gap and the rollout metrics against the frame index, with the
    per-tenth means of the continuation and of the longest rollout as markers; returns why not, or None."""
    plt = pyplot()
    if plt is None:
        return "matplotlib is not installed: no plot (the figures are in eval/eval.json)"
    models = report["models"]
    longest = str(max(report["lengths"]))
    panels = [("continuation MSE vs truth", "continuation"), ("teacher-forcing MSE vs teacher", "teacher_forcing")]
    panels += [(f"rollout: {m}", m) for m in ROLLOUT_METRICS]
    fig, grid = plt.subplots(2, 4, figsize=(16, 7))
    axes = grid.flatten()
    axes[-1].axis("off")
    nulls = lambda values: [float("nan") if v is None else v for v in values]  # noqa: E731
    for ax, (title, key) in zip(axes, panels):
        for name, row in models.items():
            tenths = None
            if key in ("continuation", "teacher_forcing"):
                if key not in row:
                    continue
                first = row[key].get("first_frame", 0)
                y = row[key]["mse_per_frame"]
                x = range(first, first + len(y))
                if "mse_per_tenth" in row[key]:
                    bounds = report["tenth_bounds"][str(len(y))]
                    tenths = (tenth_centres(bounds, first), row[key]["mse_per_tenth"])
            elif "rollout" in row:
                y = row["rollout"]["per_frame"][key]
                x = range(len(y))
                tenths = (tenth_centres(report["tenth_bounds"][longest]), row["rollout"]["tenths"][longest][key])
            else:
                continue
            ax.plot(list(x), nulls(y), label=name, color=colour[name], linewidth=1)
            if tenths:
                ax.plot(tenths[0], nulls(tenths[1]), "o", color=colour[name], markersize=4)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("frame")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colour[name], label=name) for name in models]
    handles.append(plt.Line2D([], [], color="grey", marker="o", linestyle="", label="mean of each tenth"))
    axes[-1].legend(handles=handles, loc="center")
    fig.tight_layout()
    write_replacing(path, lambda tmp: fig.savefig(tmp, dpi=90))
    return None


def eval_summary(report):
    """Per model: the continuation and teacher-forcing means, and at the longest length the rollout means, their
    per-tenth means and the block flicker."""
    longest = str(max(report["lengths"]))
    rows = {}
    for name, row in report["models"].items():
        rollout = row.get("rollout", {})
        rows[name] = {
            "continuation_mse": row.get("continuation", {}).get("mean"),
            "continuation_mse_per_tenth": row.get("continuation", {}).get("mse_per_tenth"),
            "teacher_forcing_mse": row.get("teacher_forcing", {}).get("mean"),
            **rollout.get("means", {}).get(longest, {}),
            "tenths": rollout.get("tenths", {}).get(longest),
            "block_flicker": rollout.get("block_flicker", {}).get(longest),
        }
    return longest, rows


def fmt(v, digits=4):
    return "-" if v is None else f"{v:.{digits}g}"


def print_eval_table(longest, rows):
    head = ("model", "cont. MSE", "TF MSE") + ROLLOUT_METRICS
    lines = [head] + [
        (name, fmt(r["continuation_mse"]), fmt(r["teacher_forcing_mse"])) + tuple(fmt(r.get(m)) for m in ROLLOUT_METRICS)
        for name, r in rows.items()
    ]
    print_columns(lines)
    print("(cont.: MSE against the true continuation of the scene; TF: against the teacher under teacher forcing;")
    print(f" the rest: means over rollouts of {longest} frames from the prompt alone; truth: the true clips measured alike)")


# The tenths table's columns, as `arl2 eval`'s summary table shows them: the start, middle and end of the key
# metrics (the first, fifth and last tenth), then the block flicker ratio.
TENTH_METRICS = ("colour_recall", "spurious_colours", "frame_change")
SHOWN_TENTHS = (("start", 0), ("middle", 4), ("end", 9))


def print_tenths_table(longest, rows):
    """The start, middle and end of the key rollout metrics and the block flicker ratio, a row per model with
    rollouts, laid out as `arl2 eval`'s summary table."""
    rows = {name: r for name, r in rows.items() if r["tenths"]}
    width = max(len(name) for name in ["model", *rows]) + 2
    cell = lambda text: f"{text:>9}"  # noqa: E731
    groups = "".join(f"  {' ' + m + ' ':-^{9 * len(SHOWN_TENTHS) - 2}}" for m in TENTH_METRICS)
    print(" " * width + groups + cell("flicker"))
    print("model".ljust(width) + "".join(cell(h) for _ in TENTH_METRICS for h, _ in SHOWN_TENTHS) + cell("ratio"))
    for name, r in rows.items():
        values = [r["tenths"][m][t] for m in TENTH_METRICS for _, t in SHOWN_TENTHS] + [r["block_flicker"]["ratio"]]
        print(name.ljust(width) + "".join(cell(fmt(v, 3)) for v in values))
    print(f"(start, middle, end: means over the first, fifth and last tenth of rollouts of {longest} frames; flicker:")
    print(" frame change across block boundaries over frame change inside blocks, ~1 for the truth)")


def summarise(metrics):
    ms = metrics["block_ms"]
    tenth = max(1, len(ms) // 10)
    return {
        "frames": block_frames(metrics)[-1],
        "blocks": len(ms),
        "hybrid_layers": metrics["config"]["hybrid_layers"],
        "num_layers": metrics["config"]["num_layers"],
        "total_s": metrics["total_ms"] / 1000,
        "first_blocks_ms": statistics.median(ms[:tenth]),
        "last_blocks_ms": statistics.median(ms[-tenth:]),
        "cache_mib_first": metrics["block_cache_bytes"][0] / 2**20,
        "cache_mib_last": metrics["block_cache_bytes"][-1] / 2**20,
        "memory_mib_last": metrics["block_memory_bytes"][-1] / 2**20,
    }


def print_table(rows):
    head = ("model", "hybrid layers", "frames", "total s", "ms/block first", "ms/block last", "cache MiB first",
            "cache MiB last")
    lines = [head] + [
        (name, f"{r['hybrid_layers']}/{r['num_layers']}", str(r["frames"]), f"{r['total_s']:.1f}",
         f"{r['first_blocks_ms']:.0f}", f"{r['last_blocks_ms']:.0f}", f"{r['cache_mib_first']:.2f}",
         f"{r['cache_mib_last']:.2f}")
        for name, r in rows.items()
    ]
    print_columns(lines)
    print("(ms/block first and last: medians over the first and the last tenth of the blocks)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="the main job's folder (runs/main)")
    parser.add_argument("--models", nargs="+", required=True, help="generate folders in RUN, in display order")
    parser.add_argument("--switch", help="a generate folder in RUN whose prompts switch mid-video (--switch-at)")
    args = parser.parse_args()

    runs, videos = {}, []
    for name in args.models:
        folder = os.path.join(args.run, name)
        if not os.path.isfile(os.path.join(folder, "metrics.json")):
            sys.exit(f"toy_report: --models {name}: no {folder}/metrics.json (run `arl2 generate --out {folder}`)")
        runs[name], latents = load_generation(folder)
        videos.append(latents)
    if len({v.shape for v in videos}) != 1:
        sys.exit("toy_report: the models' videos differ in shape: " + ", ".join(str(tuple(v.shape)) for v in videos))

    gifs = write_gifs(os.path.join(args.run, "videos"), videos)
    switch = None
    if args.switch:
        folder = os.path.join(args.run, args.switch)
        if not os.path.isfile(os.path.join(folder, "metrics.json")):
            sys.exit(f"toy_report: --switch {args.switch}: no {folder}/metrics.json (run `arl2 generate --switch-at`)")
        metrics, latents = load_generation(folder)
        if metrics.get("switch_at") is None:
            sys.exit(f"toy_report: --switch {args.switch}: {folder} is a video without a prompt switch")
        switch = {"folder": args.switch, "at": metrics["switch_at"],
                  "gifs": write_gifs(os.path.join(args.run, "videos"), [latents], name="switch")}
    plot_path = os.path.join(args.run, "blocks.png")
    colour = colours_for(args.models)
    plot_missing = plot_blocks(plot_path, runs, colour)
    rows = {name: summarise(m) for name, m in runs.items()}
    summary = {"generation": rows}
    if switch:
        summary["switch"] = switch
    eval_path = os.path.join(args.run, "eval", "eval.json")
    eval_rows, eval_plot = None, None
    if os.path.isfile(eval_path):
        with open(eval_path) as f:
            report = json.load(f)
        longest, eval_rows = eval_summary(report)
        summary["eval"] = {"rollout_frames": int(longest), "models": eval_rows}
        # the models of --models keep their colours; the eval's own rows (truth, baselines) take the next ones
        colour = colours_for(list(args.models) + [n for n in report["models"] if n not in args.models])
        eval_plot = plot_eval(os.path.join(args.run, "eval.png"), report, colour) or os.path.join(args.run, "eval.png")
    def dump_summary(tmp):
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=2)

    write_replacing(os.path.join(args.run, "summary.json"), dump_summary)

    print_table(rows)
    if eval_rows:
        print()
        print_eval_table(summary["eval"]["rollout_frames"], eval_rows)
        print()
        print_tenths_table(summary["eval"]["rollout_frames"], eval_rows)
    print()
    if isinstance(gifs, list):
        print(f"videos: {', '.join(gifs)} (left to right: {', '.join(args.models)})")
    else:
        print("videos: " + gifs)
    if switch:
        where = f"{switch['folder']}, the prompts switch at frame {switch['at']}"
        gifs = switch["gifs"]
        print(f"switch: {', '.join(gifs)} ({where})" if isinstance(gifs, list) else f"switch: {gifs} ({where})")
    print("plot:   " + (plot_missing or plot_path))
    if eval_plot:
        print("eval:   " + eval_plot)
    print("summary: " + os.path.join(args.run, "summary.json"))


if __name__ == "__main__":
    main()
