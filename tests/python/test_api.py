"""arl2._C as a Python user meets it: configs loaded and read back, weights saved and loaded (teacher and
hybrid), the trainer's run() with its callback, and C++ errors arriving as Python exceptions with their
message and without a C++ backtrace."""
import re
from pathlib import Path

import pytest
import torch

import arl2

try:
    from arl2 import _C
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
STAGE1 = str(ROOT / "configs/tiny-train-stage1.yaml")


def stage1(tmp_path, steps):
    return _C.Trainer(
        STAGE1,
        [f"train.steps={steps}", "train.warmup_steps=1", f"train.out={tmp_path}",
         f"data.path={ROOT / 'tests/data/tiny_clips'}"],
    )


def test_config_reads_back_and_feeds_the_model():
    config = _C.load_config(STAGE1, ["train.steps=7", "inference.shift=3.5"])
    again = _C.parse_config(config.yaml)
    assert again.yaml == config.yaml and again.hash == config.hash
    assert "steps: 7" in config.yaml and config.generation["shift"] == 3.5
    assert config.hash != _C.load_config(STAGE1).hash
    assert config.model == _C.WanDiT("tiny").config
    assert config.hybrid == dict(
        layers=None, ratio=0.5, policy="first", lora=True, lora_rank=16, lora_alpha=32.0, ffn_lora_all_layers=False
    )
    assert config.generation == dict(
        frames_per_block=2, latent_height=4, latent_width=4, denoising_steps=[1000, 750, 500, 250],
        shift=3.5, warp=True, sampler="renoise", context_timestep=0.0, guidance_scale=1.0, kv_window_frames=0, kv_sink_frames=0,
        cuda_graphs=True,
    )
    assert _C.parse_config("model:\n  preset: tiny\n").hybrid is None


def test_keyword_arguments_are_checked_as_the_config_file_is():
    dit = _C.WanDiT("tiny")
    names = set(dit.state_dict())
    with pytest.raises(RuntimeError, match=r"hybrid\.lora_rank: expected an integer in \[1, 4096\], got 0"):
        dit.convert_to_hybrid(ratio=0.5, lora=True, lora_rank=0)
    with pytest.raises(TypeError, match=r"hybrid: unknown field 'lora_rnak'; known fields: layers, ratio, policy"):
        dit.convert_to_hybrid(ratio=0.5, lora_rnak=8)
    with pytest.raises(TypeError, match=r"hybrid\.lora: expected True or False, got int"):
        dit.convert_to_hybrid(ratio=0.5, lora=1)
    assert set(dit.state_dict()) == names  # nothing converted by the refused calls
    text = torch.randn(1, 5, 32)
    with pytest.raises(RuntimeError, match=r"generate\.shift: expected a number > 0, got -1"):
        dit.generate(text, latent_frames=2, shift=-1.0)
    with pytest.raises(RuntimeError, match=r"generate\.sampler 'ddim' is unknown; known: renoise, euler"):
        dit.generate(text, latent_frames=2, sampler="ddim")
    with pytest.raises(TypeError, match=r"generate: unknown field 'frames'"):
        dit.generate(text, latent_frames=2, frames=2)
    with pytest.raises(TypeError, match=r"generate\.denoising_steps\[1\]: expected an integer, got float"):
        dit.generate(text, latent_frames=2, denoising_steps=[1000, 500.0])
    with pytest.raises(RuntimeError, match=r"model\.num_layers: expected an integer in \[1, 1024\], got 0"):
        _C.WanDiT({"preset": "tiny", "num_layers": 0})


def test_from_config_builds_what_generate_builds(tmp_path):
    overrides = ["inference.dtype=float32", "inference.device=cpu"]
    config = _C.load_config(str(ROOT / "configs/tiny-hybrid50.yaml"), overrides)
    trained = _C.WanDiT("tiny")
    trained.convert_to_hybrid(**config.hybrid)
    for p in trained.state_dict().values():
        p.data.normal_()
    trained.save(str(tmp_path / "hybrid.safetensors"))

    dit = _C.WanDiT.from_config(
        _C.load_config(str(ROOT / "configs/tiny-hybrid50.yaml"),
                       overrides + [f"inference.hybrid_checkpoint={tmp_path / 'hybrid.safetensors'}"]))
    assert dit.parameter_groups()["hybrid"] and dit.state_dict().keys() == trained.state_dict().keys()
    assert all(torch.equal(dit.state_dict()[k], v) for k, v in trained.state_dict().items())
    assert _C.WanDiT.from_config(config, dtype="float64").state_dict()["head.head.weight"].dtype == torch.float64


@pytest.mark.parametrize("hybrid", [False, True], ids=["teacher", "hybrid"])
def test_weights_round_trip(hybrid, tmp_path):
    config = _C.load_config(str(ROOT / "configs/tiny-hybrid50.yaml"))

    def model(seed):
        torch.manual_seed(seed)
        dit = _C.WanDiT(config.model)
        if hybrid:
            dit.convert_to_hybrid(**config.hybrid)
        return dit

    saved, loaded = model(0), model(1)
    assert not all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), loaded.state_dict().values()))
    saved.save(str(tmp_path / "w.safetensors"))
    loaded.load(str(tmp_path / "w.safetensors"))
    assert saved.state_dict().keys() == loaded.state_dict().keys()
    for name, t in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], t), name
    x, t, text = torch.randn(1, 16, 4, 4, 6), torch.full((1, 4), 500.0), torch.randn(1, 5, 32)
    assert torch.equal(saved.forward_block_causal(x, t, text, 2), loaded.forward_block_causal(x, t, text, 2))


def test_run_calls_back_every_step_and_writes_the_run_folder(tmp_path):
    trainer = stage1(tmp_path, 4)
    first = trainer.step()
    seen = []
    trainer.run(callback=seen.append)
    assert [r["step"] for r in seen] == [2, 3, 4] and trainer.steps_done == 4
    assert set(seen[0]) == {"step", "loss", "grad_norm", "lr", "layer_losses"} and first["step"] == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2  # the run's first step and its last
    assert trainer.last_checkpoint == str(tmp_path / "checkpoints/step_000004.safetensors")
    trainer.run()  # nothing left to do
    assert trainer.steps_done == 4


def test_run_refuses_a_folder_that_holds_a_run_unless_it_overwrites_it(tmp_path):
    stage1(tmp_path, 2).run()
    with pytest.raises(RuntimeError, match=r"holds a run .*start afresh over it with --overwrite"):
        stage1(tmp_path, 2).run()
    stage1(tmp_path, 2).run(overwrite=True)
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2  # the new run's alone


def test_an_exception_in_the_callback_ends_the_run(tmp_path):
    trainer = stage1(tmp_path, 10)

    def stop_at_two(result):
        if result["step"] == 2:
            raise KeyboardInterrupt("enough")

    with pytest.raises(KeyboardInterrupt, match="enough"):
        trainer.run(callback=stop_at_two)
    assert trainer.steps_done == 2


def no_backtrace(excinfo):
    # c10::Error's what() carries the C++ stack; the bindings hand Python the message alone.
    assert "Exception raised from" not in str(excinfo.value)
    return True


ERRORS = {
    "config-key": (
        lambda tmp: _C.load_config(STAGE1, ["train.stepz=3"]),
        r"tiny-train-stage1\.yaml: train\.stepz: unknown key; known keys: stage, steps",
    ),
    "config-type": (
        lambda tmp: _C.parse_config("model:\n  preset: tiny\ntrain:\n  steps: many\n", "inline.yaml"),
        r'inline\.yaml: train\.steps: expected an integer, got "many" \(line 4\)',
    ),
    "config-file": (lambda tmp: _C.load_config(str(tmp / "absent.yaml")), r"config: cannot read '.*absent\.yaml'"),
    "trainer-override": (lambda tmp: stage1(tmp, "ten"), r'train\.steps: expected an integer, got "ten"'),
    "forward-shape": (
        lambda tmp: _C.WanDiT("tiny").forward_block_causal(
            torch.randn(1, 15, 4, 4, 6), torch.zeros(1, 4), torch.randn(1, 5, 32), 2
        ),
        r"WanDiT: x must be \[B, 16, F, H, W\], got \[1, 15, 4, 4, 6\]",
    ),
    "weights-file": (
        lambda tmp: _C.WanDiT("tiny").load(str(tmp / "absent.safetensors")),
        r"safetensors file '.*absent\.safetensors': cannot open",
    ),
    "op-shape": (
        lambda tmp: arl2.gdn_block_read(torch.randn(1, 8, 2, 16), torch.randn(1, 3, 2, 16, 16), 4),
        r"gdn_block_read: states must have shape",
    ),
}


@pytest.mark.parametrize("call, message", ERRORS.values(), ids=ERRORS.keys())
def test_cpp_errors_arrive_with_their_message(call, message, tmp_path):
    with pytest.raises(RuntimeError, match=re.compile(message, re.S)) as excinfo:
        call(tmp_path)
    assert no_backtrace(excinfo)
