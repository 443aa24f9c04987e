"""A hybrid saved as the ARL2 authors' code saves one loads here: a `.pt` dict with the DiT's state dict under
`generator` (the weights their inference loads by default) and `generator_ema`, its names as their model gives them
(a `model.` wrapper prefix, FSDP's and activation checkpointing's wrapper segments, FFN adapters that wrap the
linear as `ffn.N.linear.weight` next to `ffn.N.lora_A`), FFN adapters on the hybrid layers or on every layer
(their --ffn_lora_all_layers). scripts/convert_checkpoint.py turns it into safetensors; the C++ model loads it with
every weight in place and computes what the reference does with those weights. A missing or unknown tensor is an
error naming it."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import rel_err
from test_hybrid_model import TOL, random_reference
from test_wan_model import CONFIGS, clip

try:
    from arl2 import _C
except ImportError as e:  # built only where CMake found Python's headers (python/bindings/CMakeLists.txt)
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "convert_checkpoint.py"
LAYERS = [0]  # of the tiny model's two: layer 1 stays softmax
BLOCK = re.compile(r"blocks\.(\d+)\.(.*)")
FFN_LINEAR = re.compile(r"(ffn\.\d+)\.(weight|bias)$")


def authors_name(name, adapted_ffn_blocks):
    """`name` as the authors' generator state dict holds it: their DiT is the wrapper's `model`, FSDP wraps it and
    each block, activation checkpointing wraps each block inside that, and an adapted FFN linear is the child
    `linear` of its LoRA module."""
    block = BLOCK.fullmatch(name)
    if block is None:
        return "model._fsdp_wrapped_module." + name
    index, rest = block.groups()
    if int(index) in adapted_ffn_blocks:
        rest = FFN_LINEAR.sub(r"\1.linear.\2", rest)
    return f"model._fsdp_wrapped_module.blocks.{index}._fsdp_wrapped_module._checkpoint_wrapped_module.{rest}"


def authors_state_dict(ref, adapted_ffn_blocks):
    return {authors_name(k, adapted_ffn_blocks): v.detach().clone() for k, v in ref.state_dict().items()}


def convert(src, dst, *args):
    result = subprocess.run([sys.executable, str(SCRIPT), str(src), str(dst), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def hybrid_model(cfg, ffn_lora_all_layers):
    model = _C.WanDiT(dict(cfg), dtype="float32")
    model.convert_to_hybrid(layers=LAYERS, lora=True, ffn_lora_all_layers=ffn_lora_all_layers)
    return model


@pytest.fixture(params=[False, True], ids=["ffn-lora-hybrid", "ffn-lora-all-layers"])
def authors_checkpoint(request, tmp_path):
    """The reference hybrid and its EMA (other random weights), saved the authors' way; and the variant."""
    cfg, all_layers = CONFIGS["tiny"], request.param
    adapted = set(range(cfg["num_layers"])) if all_layers else set(LAYERS)
    torch.manual_seed(0)
    ref = random_reference(cfg, LAYERS, True, torch.float32, ffn_lora_all_layers=all_layers)
    ema = random_reference(cfg, LAYERS, True, torch.float32, ffn_lora_all_layers=all_layers)
    path = tmp_path / "arl2_hybrid.pt"
    torch.save({"generator": authors_state_dict(ref, adapted), "generator_ema": authors_state_dict(ema, adapted),
                "step": 500}, path)
    return cfg, all_layers, ref, ema, path


def test_the_authors_hybrid_loads_with_every_weight_in_place(authors_checkpoint, tmp_path):
    cfg, all_layers, ref, ema, path = authors_checkpoint
    for key, expected in [("generator", ref), ("generator_ema", ema)]:
        out = tmp_path / f"{key}.safetensors"
        printed = convert(path, out, "--key", key)
        assert "hybrid layers [0]" in printed and ("ffn_lora_all_layers: true" in printed) == all_layers
        model = hybrid_model(cfg, all_layers)
        model.load(str(out))
        weights = model.state_dict()
        assert weights.keys() == expected.state_dict().keys()
        for name, tensor in expected.state_dict().items():
            assert torch.equal(weights[name], tensor), name

    noisy, noisy_t, _, _, context = clip(cfg, torch.float32)
    with torch.no_grad():
        expected = ema(noisy, noisy_t, context, frames_per_block=2)
    err = rel_err(model.forward_block_causal(noisy, noisy_t, context, 2), expected)
    print(f"block-causal against the reference: relative error {err:.3g}")
    assert err < TOL[torch.float32]
    model.merge_ffn_lora()  # as generation runs it: every FFN adapter folded in, the function kept
    assert not [n for n in model.state_dict() if ".ffn." in n and "lora" in n]
    assert rel_err(model.forward_block_causal(noisy, noisy_t, context, 2), expected) < TOL[torch.float32]


def test_missing_unknown_and_misplaced_tensors_are_named(authors_checkpoint, tmp_path):
    cfg, all_layers, ref, _, path = authors_checkpoint
    generator = torch.load(path, weights_only=True)["generator"]
    lora_b = next(n for n in generator if n.endswith("blocks.0._fsdp_wrapped_module._checkpoint_wrapped_module."
                                                     "ffn.2.lora_B"))

    def load_error(state, ffn_lora_all_layers=all_layers):
        src, dst = tmp_path / "edited.pt", tmp_path / "edited.safetensors"
        torch.save({"generator": state}, src)
        convert(src, dst)
        with pytest.raises(RuntimeError) as error:
            hybrid_model(cfg, ffn_lora_all_layers).load(str(dst))
        return str(error.value)

    # A missing tensor is never left at its fresh initialisation.
    message = load_error({n: t for n, t in generator.items() if n != lora_b})
    assert "1 missing" in message and "blocks.0.ffn.2.lora_B" in message
    extra = "model._fsdp_wrapped_module.blocks.0._fsdp_wrapped_module._checkpoint_wrapped_module.self_attn.extra"
    message = load_error({**generator, extra: torch.zeros(2)})
    assert "1 unexpected" in message and extra in message
    # The variant not configured: every layer's FFN adapters against a model that adapts the hybrid layers' only,
    # or the other way round; the surplus or absent adapters are named.
    message = load_error(generator, ffn_lora_all_layers=not all_layers)
    kind = "unexpected" if all_layers else "missing"
    assert f"4 {kind}" in message and "blocks.1." in message and "ffn.0.lora_A" in message
