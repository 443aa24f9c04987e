"""scripts/toy_report.py's reading of `arl2 eval`'s eval.json (the layout csrc/eval/eval_report.h gives): the
longest rollout's per-tenth means and block flicker go into summary.json and the tenths table, rows without
rollouts stay out of that table, and eval.png is drawn with them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("safetensors")
from safetensors.torch import save_file  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "toy_report.py"
METRICS = ("colour_recall", "spurious_colours", "count_error", "centroid_accel", "frame_change")


def write_generation(folder: Path, hybrid_layers: int, switch_at=None):
    """What `arl2 generate` leaves: two blocks of 2 frames for one prompt."""
    folder.mkdir(parents=True)
    save_file({"latents": torch.zeros(1, 4, 3, 8, 8)}, str(folder / "latents.safetensors"))
    metrics = {
        "config": {"frames_per_block": 2, "hybrid_layers": hybrid_layers, "num_layers": 4},
        "block_ms": [10.0, 12.0],
        "block_cache_bytes": [2**20, 2**21],
        "block_memory_bytes": [2**24, 2**24],
        "memory_kind": "resident set of the process",
        "total_ms": 22.0,
        "switch_at": switch_at,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


def rollout(frames: int, scale: float):
    """A rollout row's section at lengths 8 and 16: tenth i of the 16-frame rollout is scale * (i + 1)."""
    def at(length):
        return {m: [scale * (i + 1) if length == 16 else -1.0 for i in range(10)] for m in METRICS}

    return {
        "frames": frames,
        "per_frame": {m: [None] + [scale] * (frames - 1) for m in METRICS},
        "means": {"8": {m: -1.0 for m in METRICS}, "16": {m: scale for m in METRICS}},
        "tenths": {"8": at(8), "16": at(16)},
        "block_flicker": {
            "8": {"boundary_change": -1.0, "inside_change": -1.0, "ratio": -1.0},
            "16": {"boundary_change": 3 * scale, "inside_change": 2 * scale, "ratio": 1.5},
        },
    }


def write_eval(path: Path):
    continuation = {"first_frame": 2, "mse_per_frame": [0.5] * 4, "mean": 0.5, "mse_per_tenth": [0.5] * 10}
    report = {
        "lengths": [8, 16],
        "frames_per_block": 2,
        "tenth_bounds": {
            "8": [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 8],
            "16": [0, 2, 4, 5, 7, 8, 10, 12, 13, 15, 16],
            "4": [0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4],
        },
        "models": {
            "truth": {"rollout": rollout(16, 0.01)},
            "copy_last_frame": {"continuation": continuation},
            "teacher": {"continuation": continuation, "rollout": rollout(16, 0.1)},
        },
    }
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(report))


def test_the_longest_rollouts_tenths_and_flicker_reach_the_report(tmp_path):
    write_generation(tmp_path / "teacher", 0)
    write_eval(tmp_path / "eval" / "eval.json")
    r = subprocess.run([sys.executable, str(SCRIPT), "--run", str(tmp_path), "--models", "teacher"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    summary = json.loads((tmp_path / "summary.json").read_text())["eval"]
    assert summary["rollout_frames"] == 16
    teacher = summary["models"]["teacher"]
    assert teacher["tenths"]["frame_change"] == pytest.approx([0.1 * (i + 1) for i in range(10)])
    assert teacher["block_flicker"] == {"boundary_change": pytest.approx(0.3), "inside_change": pytest.approx(0.2),
                                        "ratio": 1.5}
    assert teacher["continuation_mse_per_tenth"] == [0.5] * 10
    assert summary["models"]["copy_last_frame"]["tenths"] is None

    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if "----- colour_recall -----" in line)
    assert lines[head + 1].split() == ["model"] + ["start", "middle", "end"] * 3 + ["ratio"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[head + 2:head + 4]}
    # start, middle and end: tenths 1, 5 and 10 of each metric; then the flicker ratio.
    assert rows["teacher"] == ["0.1", "0.5", "1"] * 3 + ["1.5"]
    assert rows["truth"] == ["0.01", "0.05", "0.1"] * 3 + ["1.5"]
    assert lines[head + 4].startswith("(start, middle, end")
    if "matplotlib is not installed" not in r.stdout:
        assert (tmp_path / "eval.png").stat().st_size > 0


def test_a_prompt_switch_gets_its_own_gif(tmp_path):
    pytest.importorskip("PIL")
    write_generation(tmp_path / "teacher", 0)
    write_generation(tmp_path / "switch", 2, switch_at=2)
    r = subprocess.run([sys.executable, str(SCRIPT), "--run", str(tmp_path), "--models", "teacher", "--switch",
                        "switch"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "videos" / "switch_0.gif").stat().st_size > 0
    assert "the prompts switch at frame 2" in r.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["switch"]["at"] == 2
    r = subprocess.run([sys.executable, str(SCRIPT), "--run", str(tmp_path), "--models", "teacher", "--switch",
                        "teacher"], capture_output=True, text=True)
    assert r.returncode != 0 and "a video without a prompt switch" in r.stderr
