"""scripts/convert_checkpoint.py: .pt checkpoints as Self Forcing / Causal Forcing ship them become safetensors with
the same names and values, the state dict `--key` names (required where both `generator` and `generator_ema` are
there); bad checkpoints give a clear
error naming what the file holds and leave no file behind. (The ARL2 authors' hybrids: test_authors_checkpoint.py.)"""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

safetensors_torch = pytest.importorskip("safetensors.torch")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "convert_checkpoint.py"


def state_dict(prefix, seed):
    g = torch.Generator().manual_seed(seed)
    return {
        f"{prefix}patch_embedding.weight": torch.randn(8, 4, 1, 2, 2, generator=g).to(torch.bfloat16),
        f"{prefix}blocks.0.self_attn.q.weight": torch.randn(8, 8, generator=g),
        f"{prefix}blocks.0.modulation": torch.randn(8, 6, 1, generator=g).transpose(0, 2),  # non-contiguous
    }


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("key, seed", [("generator", 1), ("generator_ema", 2)])
def test_converts_the_chosen_state_dict(tmp_path, key, seed):
    src, dst = tmp_path / "ckpt.pt", tmp_path / "out.safetensors"
    torch.save({"generator": state_dict("model.", 1), "generator_ema": state_dict("model.", 2), "step": 7}, src)
    result = run(src, dst, *(["--key", key] if key else []))
    assert result.returncode == 0, result.stderr
    loaded = safetensors_torch.load_file(str(dst))
    expected = state_dict("model.", seed)
    assert loaded.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(loaded[name], tensor), name
    assert not list(tmp_path.glob("*.tmp.*"))


def test_bare_state_dict(tmp_path):
    src, dst = tmp_path / "ckpt.pt", tmp_path / "out.safetensors"
    torch.save(state_dict("", 3), src)
    assert run(src, dst).returncode == 0
    assert safetensors_torch.load_file(str(dst)).keys() == state_dict("", 3).keys()


@pytest.mark.parametrize(
    "checkpoint, args, message",
    [
        ({"step": 7, "optimizer": {}}, [],
         "no 'generator' in the checkpoint; it holds 'optimizer' (a dict of 0 entries), 'step' (int)"),
        ({"generator": state_dict("", 1)}, ["--key", "generator_ema"],
         "no 'generator_ema' in the checkpoint; it holds 'generator' (a dict of 3 entries); pass --key generator"),
        ({"generator_ema": state_dict("", 1), "step": 7}, [],
         "no 'generator' in the checkpoint; it holds 'generator_ema' (a dict of 3 entries), 'step' (int); "
         "pass --key generator_ema"),
        (state_dict("", 1), ["--key", "generator"], "it holds 'blocks.0.modulation' (a tensor [1, 6, 8])"),
        ({"generator": {"w": torch.ones(2), "step": 3}}, [], "are not tensors"),
        ({"generator": torch.ones(2)}, [], "'generator' holds a tensor [2], not a state dict"),
        ({"generator": state_dict("", 1), "generator_ema": state_dict("", 2)}, [],
         "the checkpoint holds both 'generator' and 'generator_ema': pass --key generator"),
    ],
    ids=["no-state-dict", "missing-key", "ema-only", "bare-with-key", "non-tensor", "not-a-dict", "both-no-key"],
)
def test_bad_checkpoints_are_refused(tmp_path, checkpoint, args, message):
    src, dst = tmp_path / "ckpt.pt", tmp_path / "out.safetensors"
    torch.save(checkpoint, src)
    result = run(src, dst, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not dst.exists() and not list(tmp_path.glob("*.tmp.*"))
