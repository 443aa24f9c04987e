"""The C++ hybrid model (a WanDiT converted through arl2._C) against the independent PyTorch hybrid of
wan_reference.py (docs/design.md, "The method"; a float64 token-by-token memory), both loading the same weights
from one safetensors file under the authors' names: every attention mode, generation with clean-pass writes, 50%
and 100% hybrid, with and without LoRA, float32 and float64. Also the names a conversion saves, the
diagnostics, the parameter groups and errors reaching Python."""
import pytest
import torch
from safetensors.torch import load_file, save_file

import arl2  # noqa: F401  (loads the op library)
from conftest import rel_err
from test_wan_model import CONFIGS, DTYPE_NAMES, clip
from wan_reference import WanReference

try:
    from arl2 import _C
except ImportError as e:  # built only where CMake found Python's headers (python/bindings/CMakeLists.txt)
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

# Relative errors: float64 the same function (measured 3e-16 to 5e-16: the reference's memory is a token
# loop, the C++ one the scan op), float32 rounding only (measured 1.5e-7 to 3e-7: the C++ state is float32,
# the reference's float64).
TOL = {torch.float32: 2e-6, torch.float64: 1e-13}
HYBRIDS = {"tiny-50": ("tiny", [0]), "tiny-100": ("tiny", [0, 1]), "narrow-last": ("narrow", [1])}


def random_reference(cfg, layers, lora, dtype, ffn_lora_all_layers=False):
    """The reference hybrid with random weights on every path, the decay kept mild so the memory shows."""
    rank = 16 if lora else 0
    ref = WanReference(cfg, hybrid_layers=layers, lora_rank=rank, ffn_lora_all_layers=ffn_lora_all_layers).to(dtype)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.normal_(0.0, p[0].numel() ** -0.5 if p.dim() > 1 else 0.25)
            if name.endswith("A_log"):
                p.uniform_(-4.0, -2.0)
    return ref


def models(cfg, layers, lora, dtype, tmp_path):
    """The reference with random weights, and the C++ model converted to the same hybrid layers, both loaded
    from one file."""
    ref = random_reference(cfg, layers, lora, dtype)
    path = str(tmp_path / "hybrid.safetensors")
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, path)
    ref.load_state_dict(load_file(path), strict=True)
    model = _C.WanDiT(dict(cfg), dtype=DTYPE_NAMES[dtype])
    assert model.convert_to_hybrid(layers=layers, lora=lora) == layers
    model.load(path)
    return ref, model


@pytest.mark.parametrize("lora", [False, True], ids=["", "lora"])
@pytest.mark.parametrize("name", HYBRIDS)
@pytest.mark.parametrize("dtype", DTYPE_NAMES, ids=DTYPE_NAMES.values())
def test_hybrid_matches_reference_in_every_mode(name, dtype, lora, tmp_path):
    cfg_name, layers = HYBRIDS[name]
    cfg = CONFIGS[cfg_name]
    ref, model = models(cfg, layers, lora, dtype, tmp_path)
    noisy, noisy_t, clean, clean_t, context = clip(cfg, dtype)

    t = torch.rand(2, 6) * 1000
    with torch.no_grad():
        expected = ref(noisy, t, context, frames_per_block=3)
    err = rel_err(model.forward_block_causal(noisy, t, context, 3), expected)
    print(f"block-causal: relative error {err:.3g}")
    assert err < TOL[dtype]

    with torch.no_grad():
        expected = ref(noisy, noisy_t, context, frames_per_block=2, clean=clean, clean_t=clean_t)
    err = rel_err(model.forward_teacher_forcing(noisy, noisy_t, clean, clean_t, context, 2), expected)
    print(f"teacher forcing: relative error {err:.3g}")
    assert err < TOL[dtype]

    # Generation: denoising passes read the caches and states; the clean block at timestep 0 writes them.
    caches = model.make_caches(2, noisy.shape[3], noisy.shape[4], frames=6)
    blocks = []
    for f in range(0, 6, 2):
        for _ in range(2):
            y = model.forward_cached(noisy[:, :, f : f + 2], noisy_t[:, f : f + 2], context, caches, False)
        blocks.append(y)
        model.forward_cached(clean[:, :, f : f + 2], clean_t[:, f : f + 2], context, caches, True)
    assert caches.frames_committed == 6
    assert caches.recurrent_state(layers[0]).abs().max() > 0
    err = rel_err(torch.cat(blocks, 2), expected)
    print(f"generation: relative error {err:.3g}")
    assert err < TOL[dtype]


@pytest.mark.requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_hybrid_on_cuda_matches_the_float64_reference(dtype, tmp_path):
    # The CUDA path of the whole model: the GDN scan and read kernels, FlashAttention (bfloat16) or SDPA's
    # float32 kernels, against the reference in float64 on the same (rounded) weights and inputs.
    cfg = CONFIGS["tiny"]
    ref, _ = models(cfg, [0, 1], True, torch.float64, tmp_path)
    model = _C.WanDiT(dict(cfg), dtype=DTYPE_NAMES.get(dtype, "bfloat16"), device="cuda")
    model.convert_to_hybrid(layers=[0, 1], lora=True)
    model.load(str(tmp_path / "hybrid.safetensors"))
    with torch.no_grad():  # the reference gets the weights as the CUDA model holds them
        for p in ref.parameters():
            p.copy_(p.to(dtype).double())
    noisy, noisy_t, clean, clean_t, context = clip(cfg, torch.float64)
    noisy, clean, context = (x.to(dtype).double() for x in (noisy, clean, context))
    on_cuda = lambda x: x.to("cuda", dtype)  # noqa: E731
    with torch.no_grad():
        expected = ref(noisy, noisy_t, context, frames_per_block=2, clean=clean, clean_t=clean_t)
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    got = model.forward_teacher_forcing(on_cuda(noisy), noisy_t.cuda(), on_cuda(clean), clean_t.cuda(),
                                        on_cuda(context), 2)
    err = rel_err(got, expected)
    print(f"teacher forcing on CUDA ({dtype}): relative error {err:.3g}")
    assert err < tol

    caches = model.make_caches(2, noisy.shape[3], noisy.shape[4], frames=6)
    blocks = []
    for f in range(0, 6, 2):
        blocks.append(model.forward_cached(on_cuda(noisy[:, :, f : f + 2]), noisy_t[:, f : f + 2].cuda(),
                                           on_cuda(context), caches, False))
        model.forward_cached(on_cuda(clean[:, :, f : f + 2]), clean_t[:, f : f + 2].cuda(), on_cuda(context),
                             caches, True)
    err = rel_err(torch.cat(blocks, 2), expected)
    print(f"generation on CUDA ({dtype}): relative error {err:.3g}")
    assert err < tol


def test_conversion_saves_the_authors_names_and_initialisation(tmp_path):
    """A fresh C++ conversion, saved, loads strictly into the reference, which then computes the same."""
    cfg = CONFIGS["tiny"]
    model = _C.WanDiT(dict(cfg), dtype="float64")
    base = {k: torch.randn_like(v) * 0.1 for k, v in model.state_dict().items()}
    base_path = str(tmp_path / "base.safetensors")
    save_file(base, base_path)
    model.load(base_path)
    model.convert_to_hybrid(ratio=1.0, lora=True)
    path = str(tmp_path / "hybrid.safetensors")
    model.save(path)
    saved = load_file(path)
    new = sorted(k for k in saved if k not in base)
    assert new == sorted(
        f"blocks.{i}.{n}"
        for i in range(2)
        for n in [
            "self_attn.a_proj.weight", "self_attn.b_proj.weight", "self_attn.gate_proj.weight",
            "self_attn.A_log", "self_attn.dt_bias",
            "self_attn.phi_q.weight", "self_attn.phi_k.weight", "self_attn.phi_v.weight",
            "self_attn.lora_q_A", "self_attn.lora_q_B", "self_attn.lora_k_A", "self_attn.lora_k_B",
            "self_attn.lora_v_A", "self_attn.lora_v_B",
            "ffn.0.lora_A", "ffn.0.lora_B", "ffn.2.lora_A", "ffn.2.lora_B",
        ]
    )
    assert all(torch.equal(saved[k], base[k]) for k in base)  # the teacher's tensors, untouched
    eye = torch.eye(32, dtype=torch.float64).repeat(2, 1).unsqueeze(-1)
    assert torch.equal(saved["blocks.0.self_attn.phi_k.weight"], eye)
    assert saved["blocks.1.ffn.2.lora_B"].abs().max() == 0

    ref = WanReference(cfg, hybrid_layers=(0, 1), lora_rank=16).double()
    ref.load_state_dict(saved, strict=True)
    noisy, noisy_t, clean, clean_t, context = clip(cfg, torch.float64)
    with torch.no_grad():
        expected = ref(noisy, noisy_t, context, frames_per_block=2, clean=clean, clean_t=clean_t)
    got = model.forward_teacher_forcing(noisy, noisy_t, clean, clean_t, context, 2)
    assert rel_err(got, expected) < TOL[torch.float64]


def test_diagnostics_match_the_reference(tmp_path):
    cfg = CONFIGS["tiny"]
    ref, model = models(cfg, [0, 1], False, torch.float64, tmp_path)
    noisy, noisy_t, clean, clean_t, context = clip(cfg, torch.float64)
    model.forward_block_causal(noisy, noisy_t, context, 2)
    assert model.diagnostics() == {}
    model.set_diagnostics(True)
    model.forward_teacher_forcing(noisy, noisy_t, clean, clean_t, context, 2)
    with torch.no_grad():
        ref(noisy, noisy_t, context, frames_per_block=2, clean=clean, clean_t=clean_t)
    got = model.diagnostics()
    assert sorted(got) == [0, 1]
    for i in (0, 1):
        intra, gated, gate = ref.blocks[i].self_attn.last
        expected = {
            "intra_rms": intra.pow(2).mean().sqrt().item(),
            "gated_memory_rms": gated.pow(2).mean().sqrt().item(),
            "gate_mean": gate.mean().item(),
            "gate_saturation": ((gate > 0.99) | (gate < 0.01)).double().mean().item(),
        }
        assert got[i] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_parameter_groups_and_frozen_base():
    model = _C.WanDiT("tiny")
    assert model.convert_to_hybrid(ratio=0.5, policy="first", lora=True) == [0]
    groups = model.parameter_groups()
    params = model.state_dict()
    assert len(groups["base"]) == len(params) - 8 - 10
    assert sorted(groups["hybrid"]) == sorted(
        f"blocks.0.self_attn.{n}"
        for n in ["a_proj.weight", "b_proj.weight", "gate_proj.weight", "A_log", "dt_bias"]
        + [f"phi_{x}.weight" for x in "qkv"]
    )
    assert "blocks.0.ffn.2.lora_B" in groups["lora"]
    assert not any(params[n].requires_grad for n in groups["base"])
    assert all(params[n].requires_grad for n in groups["hybrid"] + groups["lora"])


def test_hybrid_errors_reach_python():
    model = _C.WanDiT("tiny")
    model.convert_to_hybrid(layers=[1])
    with pytest.raises(RuntimeError, match=r"blocks\.1\.self_attn is already hybrid"):
        model.convert_to_hybrid(layers=[1])
    with pytest.raises(RuntimeError, match=r"not both"):
        model.convert_to_hybrid(layers=[0], ratio=0.5)
    with pytest.raises(RuntimeError, match=r"hybrid.policy 'middle' is unknown"):
        model.convert_to_hybrid(ratio=0.5, policy="middle")
    caches = model.make_caches(1, 4, 6, frames=2)
    with pytest.raises(RuntimeError, match=r"layer 0 holds a KV cache"):
        caches.recurrent_state(0)
