"""scripts/bench_generate.py on the CPU with the tiny model: every model and length measured, the table and
JSON, out-of-memory runs recorded, the targets of docs/performance.md, --merge and --plot-from."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

import arl2  # noqa: F401  (loads the op library)

try:
    from arl2 import _C  # noqa: F401
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_generate.py"
spec = importlib.util.spec_from_file_location("bench_generate", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

@pytest.fixture(autouse=True)
def _one_thread():
    # The tiny model's ops are too small to share: on a loaded machine a second thread only waits for a core.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = ["--preset", "tiny", "--device", "cpu", "--dtype", "float32", "--latent-height", "4", "--latent-width", "6"]


def run_bench(tmp_path, name, *extra):
    path = tmp_path / f"{name}.json"
    bench.main(TINY + ["--frames", "9", "21", "--json", str(path), *extra])
    return json.loads(path.read_text())


def test_every_model_and_length_is_measured(tmp_path, capsys):
    result = run_bench(tmp_path, "all")
    out = capsys.readouterr().out
    assert result["preset"] == "tiny" and result["device"] and result["warmup"]
    runs = result["runs"]
    assert [(r["model"], r["pixel_frames"]) for r in runs] == [
        (m, f) for m in ("baseline", "hybrid50", "hybrid75", "hybrid100") for f in (9, 21)]
    assert [r["hybrid_layers"] for r in runs[::2]] == [0, 1, 2, 2]  # of 2 layers, 75% rounds half to even
    for r in runs:
        assert r["status"] == "ok"
        assert (r["latent_frames"], r["blocks"]) == ((3, 1) if r["pixel_frames"] == 9 else (6, 2))
        assert len(r["block_ms"]) == r["blocks"] and r["wall_s"] > 0 and r["block_ms_median"] > 0
        assert r["cache_bytes"] > 0 and r["peak_bytes"] is None  # no peak on the CPU
        assert (r["speedup_vs_baseline"] is None) == (r["model"] == "baseline")
    # softmax layers' KV caches grow with the video; the recurrent states do not
    assert runs[1]["cache_bytes"] == 2 * runs[0]["cache_bytes"]
    assert runs[7]["cache_bytes"] == runs[6]["cache_bytes"]
    assert [t["met"] for t in result["targets"]] == [None] * 6  # nothing at 921 frames here
    assert "speed-up" in out and "hybrid100      21      6      2" in out and "not measured" in out


def test_an_out_of_memory_run_is_recorded_and_the_rest_goes_on(tmp_path, monkeypatch, capsys):
    measured = bench.time_generation

    def out_of_memory_at_6_frames(dit, text, frames, args, device):
        if frames == 6:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB\nmore")
        return measured(dit, text, frames, args, device)

    monkeypatch.setattr(bench, "time_generation", out_of_memory_at_6_frames)
    runs = run_bench(tmp_path, "oom")["runs"]
    assert [r["status"] for r in runs] == ["ok", "oom"] * 4
    assert runs[1]["error"] == "CUDA out of memory. Tried to allocate 80.00 GiB"
    assert runs[3]["speedup_vs_baseline"] is None and runs[2]["speedup_vs_baseline"] > 0
    assert "hybrid50       21      6      2       OOM" in capsys.readouterr().out


def test_a_bad_length_fails_before_any_model_is_built(tmp_path):
    with pytest.raises(ValueError, match="10 pixel frames are not 1 \\+ 4 n frames"):
        bench.main(TINY + ["--frames", "10"])
    with pytest.raises(ValueError, match="whole blocks of 3 latent frames"):
        bench.main(TINY + ["--frames", "5"])


def fake_run(model, frames, wall_s, peak_gib, status="ok"):
    return {"model": model, "pixel_frames": frames, "status": status, "wall_s": wall_s,
            "peak_bytes": None if peak_gib is None else int(peak_gib * 2**30)}


def targets_of(runs):
    bench.add_ratios(runs)
    return {t["name"]: (t["value"], t["met"]) for t in bench.evaluate_targets(runs)}


def test_each_generation_target_is_judged_from_the_runs():
    runs = [fake_run("baseline", 921, 100.0, 64.0), fake_run("hybrid75", 921, 40.0, 19.0),
            fake_run("hybrid100", 921, 12.0, 3.0)]
    runs += [fake_run("hybrid100", f, 1.0, 3.05) for f in (81, 4113)]
    t = targets_of(runs)
    assert t["baseline_time"] == (100.0, True)
    assert t["hybrid75_speedup"] == (2.5, False)
    assert t["hybrid100_speedup"] == (pytest.approx(100 / 12), True)
    assert t["hybrid75_peak"] == (pytest.approx(19.0), True)
    assert t["hybrid100_peak"] == (pytest.approx(3.05), True)
    assert t["hybrid100_flat"][1] is True

    runs[-1]["peak_bytes"] = int(3.5 * 2**30)  # grows 15% from 81 to 4113 frames
    assert targets_of(runs)["hybrid100_flat"][1] is False
    short = [r for r in runs if r["pixel_frames"] != 4113]  # 921 frames are not "4000+"
    assert targets_of(short)["hybrid100_flat"] == (None, None)
    runs[-1]["status"] = "oom"
    assert targets_of(runs)["hybrid100_flat"] == ("OOM", False)
    runs[0]["status"] = "oom"
    assert targets_of(runs)["baseline_time"] == ("OOM", False)
    assert targets_of(runs)["hybrid75_speedup"] == (None, None)  # no baseline to compare with


def test_merge_combines_files_of_one_setting(tmp_path, capsys):
    a = run_bench(tmp_path, "a", "--models", "baseline", "hybrid50")
    run_bench(tmp_path, "b", "--models", "hybrid100")
    merged_path = tmp_path / "merged.json"
    bench.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json", str(merged_path)])
    merged = json.loads(merged_path.read_text())
    assert [(r["model"], r["pixel_frames"]) for r in merged["runs"]] == [
        (m, f) for m in ("baseline", "hybrid50", "hybrid100") for f in (9, 21)]
    base = merged["runs"][0]["wall_s"]
    assert merged["runs"][4]["speedup_vs_baseline"] == pytest.approx(base / merged["runs"][4]["wall_s"])
    assert "hybrid100" in capsys.readouterr().out

    (tmp_path / "other.json").write_text(json.dumps({**a, "latent_height": 8}))
    with pytest.raises(SystemExit, match="latent_height 8"):
        bench.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "other.json")])


def test_plot_from_draws_the_png(tmp_path):
    pytest.importorskip("matplotlib")
    run_bench(tmp_path, "p", "--models", "baseline", "hybrid100")
    bench.main(["--plot-from", str(tmp_path / "p.json")])
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
