"""scripts/bench_stream.py on the CPU with the tiny model and a tiny Wan VAE: every model streams its blocks through
the VAE, the table, the JSON and the plot; the targets stay unjudged away from their setting."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

import arl2  # noqa: E402,F401  (loads the op library)

try:
    from arl2 import _C  # noqa: F401
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_stream.py"


def test_every_model_streams_through_the_vae(tmp_path):
    path = tmp_path / "stream.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--preset", "tiny", "--vae", "tiny",
                        "--dtype", "float32", "--vae-dtype", "float32", "--frames", "25", "--latent-height", "4",
                        "--latent-width", "6", "--frames-per-block", "2", "--window", "6", "--sinks", "2",
                        "--json", str(path), "--png", str(tmp_path / "stream.png")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    result = json.loads(path.read_text())
    # 25 pixel frames: 7 latent frames, 4 blocks of 2, 29 pixel frames.
    assert [(run["model"], run["status"], run["blocks"], run["pixel_frames"]) for run in result["runs"]] == [
        ("baseline", "ok", 4, 29), ("hybrid75", "ok", 4, 29), ("hybrid100", "ok", 4, 29)]
    for run in result["runs"]:  # the tiny model has 2 layers: a window wherever one of them is left softmax
        assert run["window"] == (None if run["hybrid_layers"] == 2 else {"frames": 6, "sinks": 2})
    for run in result["runs"]:
        assert run["first_frame_s"] > 0 and run["sustained_fps"] > 0 and run["dit_fps"] > 0 and run["vae_fps"] > 0
        assert run["done_s"] == sorted(run["done_s"])
    assert all(t["met"] is None for t in result["targets"])  # the tiny setting is not the targets'
    assert "hybrid100" in r.stdout and "sustained" in r.stdout
    if "matplotlib is not installed" not in json.dumps(result):
        assert (tmp_path / "stream.png").stat().st_size > 0
