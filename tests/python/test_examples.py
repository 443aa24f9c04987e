"""Every script in examples/ runs as its docstring says, on the CPU, so that none of them rots."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import arl2

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=str(Path(arl2.__file__).parents[1]), CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_every_example_is_tested_and_says_how_to_run_it():
    assert EXAMPLES == ["convert_and_generate.py", "ops_in_a_module.py", "train_from_python.py"]
    for name in EXAMPLES:
        assert f"python3 examples/{name}" in (ROOT / "examples" / name).read_text().split('"""')[1], name


def test_ops_in_a_module():
    out = run_example("ops_in_a_module.py", "--steps", "10")
    assert "matches eager, forward and gradients" in out


def test_convert_and_generate(tmp_path):
    pytest.importorskip("arl2._C")
    out = run_example("convert_and_generate.py", "--out", str(tmp_path))
    assert out.count("hybrid: block") == 3 and out.count("teacher: block") == 3
    assert (tmp_path / "hybrid.safetensors").exists()


def test_train_from_python(tmp_path):
    pytest.importorskip("arl2._C")
    out = run_example("train_from_python.py", "--steps", "6", "--out", str(tmp_path))
    assert "run(): steps 4-6" in out and "resumed at step 6" in out
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "checkpoints/step_000006.safetensors").exists()
