"""The C++ WanDiT (through arl2._C) against the independent PyTorch model of wan_reference.py, both loading
the same weights from one safetensors file: every attention mode, float32 and float64, two configs. Also
the 1.3B preset's names and shapes on both sides (meta device, no memory) and errors reaching Python."""
import pytest
import torch
from safetensors.torch import load_file, save_file

import arl2  # noqa: F401  (loads the op library)
from conftest import rel_err
from wan_reference import WanReference

try:
    from arl2 import _C
except ImportError as e:  # built only where CMake found Python's headers (python/bindings/CMakeLists.txt)
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

TINY = dict(
    dim=64, ffn_dim=128, num_heads=2, num_layers=2, patch=(1, 2, 2), in_dim=16, out_dim=16,
    text_len=8, text_dim=32, freq_dim=32, eps=1e-6,
)
CONFIGS = {
    "tiny": TINY,
    # four heads of 16, a patch that is not square, fewer output than input channels
    "narrow": dict(TINY, num_heads=4, patch=(1, 1, 2), in_dim=4, out_dim=3),
}
# Relative errors: float32 rounding only (measured 1e-7 to 2e-7; the two round differently: masked vs
# per-block attention, fused vs split ops), and float64 the same function (measured ~3e-16).
TOL = {torch.float32: 1e-6, torch.float64: 1e-13}
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def models(cfg, dtype, tmp_path):
    """The reference with random weights (a trained model's scale, on every path) and the C++ model, both
    loaded from one file."""
    ref = WanReference(cfg).to(dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, p[0].numel() ** -0.5 if p.dim() > 1 else 0.25)
    path = str(tmp_path / "weights.safetensors")
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, path)
    ref.load_state_dict(load_file(path), strict=True)
    model = _C.WanDiT(dict(cfg), dtype=DTYPE_NAMES[dtype])
    model.load(path)
    return ref, model


def clip(cfg, dtype, frames=6):
    latent = (frames, 2 * cfg["patch"][1], 3 * cfg["patch"][2])
    noisy = torch.randn(2, cfg["in_dim"], *latent, dtype=dtype)
    clean = torch.randn_like(noisy)
    # one noise level per block of 2 frames for the noisy clip, as generation draws them
    noisy_t = (torch.rand(2, frames // 2, 1) * 1000).expand(2, frames // 2, 2).reshape(2, frames)
    context = torch.randn(2, cfg["text_len"] - 3, cfg["text_dim"], dtype=dtype)  # Wan pads it to text_len
    return noisy, noisy_t, clean, torch.zeros(2, frames), context


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("dtype", DTYPE_NAMES, ids=DTYPE_NAMES.values())
def test_block_causal_matches_reference(name, dtype, tmp_path):
    cfg = CONFIGS[name]
    ref, model = models(cfg, dtype, tmp_path)
    noisy, _, _, _, context = clip(cfg, dtype)
    t = torch.rand(2, 6) * 1000
    with torch.no_grad():
        expected = ref(noisy, t, context, frames_per_block=3)
    got = model.forward_block_causal(noisy, t, context, 3)
    assert got.shape == noisy.shape[:1] + (cfg["out_dim"],) + noisy.shape[2:]
    err = rel_err(got, expected)
    print(f"relative error {err:.3g}")
    assert err < TOL[dtype]


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("dtype", DTYPE_NAMES, ids=DTYPE_NAMES.values())
def test_teacher_forcing_and_cached_match_reference(name, dtype, tmp_path):
    cfg = CONFIGS[name]
    ref, model = models(cfg, dtype, tmp_path)
    noisy, noisy_t, clean, clean_t, context = clip(cfg, dtype)
    with torch.no_grad():
        expected = ref(noisy, noisy_t, context, frames_per_block=2, clean=clean, clean_t=clean_t)
    teacher = model.forward_teacher_forcing(noisy, noisy_t, clean, clean_t, context, 2)
    err = rel_err(teacher, expected)
    print(f"teacher forcing: relative error {err:.3g}")
    assert err < TOL[dtype]

    # Generation: each block is denoised against the cache, then its clean version at timestep 0 writes it
    # (the middle block through commit_cached, which writes without the prediction).
    caches = model.make_caches(2, noisy.shape[3], noisy.shape[4], frames=6)
    blocks = []
    for f in range(0, 6, 2):
        blocks.append(model.forward_cached(noisy[:, :, f : f + 2], noisy_t[:, f : f + 2], context, caches, False))
        if f == 2:
            model.commit_cached(clean[:, :, f : f + 2], clean_t[:, f : f + 2], context, caches)
        else:
            model.forward_cached(clean[:, :, f : f + 2], clean_t[:, f : f + 2], context, caches, True)
    assert caches.frames_committed == 6
    err = rel_err(torch.cat(blocks, 2), expected)
    print(f"cached: relative error {err:.3g}")
    assert err < TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPE_NAMES, ids=DTYPE_NAMES.values())
def test_rolling_cache_matches_local_attention_with_sink(dtype, tmp_path):
    cfg = CONFIGS["tiny"]
    ref, model = models(cfg, dtype, tmp_path)
    noisy, _, _, _, context = clip(cfg, dtype, frames=8)
    t = torch.rand(2, 8) * 1000
    # A window of 5 frames with 1 sink frame, blocks of 2: from the third block on, frames drop out.
    with torch.no_grad():
        expected = ref(noisy, t, context, frames_per_block=2, window_frames=5, sink_frames=1)
        full = ref(noisy, t, context, frames_per_block=2)
    assert rel_err(full, expected) > 1e-3  # the window does cut something
    caches = model.make_caches(2, noisy.shape[3], noisy.shape[4], frames=5, sink_frames=1, rolling=True)
    blocks = [
        model.forward_cached(noisy[:, :, f : f + 2], t[:, f : f + 2], context, caches, True) for f in range(0, 8, 2)
    ]
    err = rel_err(torch.cat(blocks, 2), expected)
    print(f"rolling: relative error {err:.3g}")
    assert err < TOL[dtype]


def test_1_3b_parameters_match_reference():
    ref_cfg = dict(
        dim=1536, ffn_dim=8960, num_heads=12, num_layers=30, patch=(1, 2, 2), in_dim=16, out_dim=16,
        text_len=512, text_dim=4096, freq_dim=256, eps=1e-6,
    )
    with torch.device("meta"):
        ref = WanReference(ref_cfg)
    expected = {k: list(v.shape) for k, v in ref.state_dict().items()}
    got = _C.WanDiT("wan2.1-t2v-1.3b", device="meta").parameter_shapes()
    assert len(got) == 825
    assert got == expected
    assert _C.WanDiT("wan2.1-t2v-1.3b", device="meta").config == dict(ref_cfg, patch=[1, 2, 2])


def test_errors_name_the_field_or_key(tmp_path):
    with pytest.raises(RuntimeError, match=r"model.dim \(64\) must be divisible by model.num_heads \(3\)"):
        _C.WanDiT(dict(TINY, num_heads=3))
    with pytest.raises(RuntimeError, match="unknown field 'heads'"):
        _C.WanDiT({"preset": "tiny", "heads": 4})
    with pytest.raises(RuntimeError, match="model preset 'huge' is unknown"):
        _C.WanDiT("huge")
    model = _C.WanDiT("tiny")
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    del weights["blocks.1.cross_attn.norm_k.weight"]
    weights["head.head.bias"] = torch.zeros(3)
    path = str(tmp_path / "bad.safetensors")
    save_file(weights, path)
    expected = r"(?s)missing:.*blocks\.1\.cross_attn\.norm_k\.weight.*head\.head\.bias: expected \[64\], got \[3\]"
    with pytest.raises(RuntimeError, match=expected):
        model.load(path)
