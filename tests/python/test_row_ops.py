"""arl2.rms_norm, arl2.layer_norm_modulate and arl2.gated_residual against float64 formulas written
here from Wan's modules: every dtype, CPU and CUDA, per-frame operands given as slices of one
modulation tensor; gradients (to second order), opcheck, torch.compile; argument errors."""
import pytest
import torch

import arl2
from conftest import poison_cuda_allocator, rel_err

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}
# float32 math in the kernels: float64 to rounding, float32 to a few ulps, the rest to the output's rounding.
# Largest over 1000 fresh seeds (scripts/error_study.py, CPU): fp64 2.3e-14, fp32 4.0e-7, bf16 2.0e-3, fp16 2.5e-4,
# each at most 2.3x its median (rounding, no long tail): >= 5x below these.
TOL = {torch.float64: 1e-12, torch.float32: 2e-6, torch.bfloat16: 1e-2, torch.float16: 2e-3}
# (B, F, tokens per frame, C): Wan-1.3B's width over a few tokens, a C that is no multiple of 32, one frame, a
# head's width over an odd number of rows (on CUDA, rows of 16 or fewer packs share a warp: the last warp's
# second group has no row)
SHAPES = [(2, 3, 5, 1536), (1, 2, 4, 45), (2, 1, 7, 64), (1, 1, 5, 128)]


def shape_id(s):
    return "B{}-F{}-T{}-C{}".format(*s)


def naive_rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def naive_layer_norm(x, eps):
    centred = x - x.mean(-1, keepdim=True)
    return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + eps)


def per_frame(t, frames):
    """[B, F, C] broadcast to [B, L, C] over the L / F tokens of each frame."""
    return t.repeat_interleave(frames, 1)


def modulation(b, f, c, dtype, device):
    """A [B, F, 6, C] modulation tensor, as a block forms it; its slices are the per-frame operands."""
    return (0.5 * torch.randn(b, f, 6, c, dtype=torch.float64)).to(dtype).to(device)


def skip_fp64_on_cuda(device, dtype):
    if device == "cuda" and dtype == torch.float64:
        pytest.skip("float64 runs on the CPU only")


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_rms_norm_matches_naive(device, shape, dtype):
    skip_fp64_on_cuda(device, dtype)
    b, f, t, c = shape
    x = (3 * torch.randn(b, f * t, c, dtype=torch.float64) + 1).to(dtype)
    w = (1 + 0.1 * torch.randn(c, dtype=torch.float64)).to(dtype)
    ref = naive_rms_norm(x.double(), w.double(), 1e-6)
    if device == "cuda":
        poison_cuda_allocator(x.shape)
    y = arl2.rms_norm(x.to(device), w.to(device), 1e-6)
    assert y.dtype == dtype and y.shape == x.shape
    assert rel_err(y, ref) < TOL[dtype]


def one_element_in(t):
    """t's values, contiguous, starting one element into their storage: no 16-byte alignment."""
    storage = torch.empty(t.numel() + 1, dtype=t.dtype, device=t.device)
    shifted = storage[1:].view(t.shape)
    shifted.copy_(t)
    return shifted


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_unaligned_rows_match_naive(device, dtype):
    # The CUDA kernels move 16-byte packs only where every pointer allows; these take the element path.
    b, f, t, c = 2, 2, 3, 1536
    x = (2 * torch.randn(b, f * t, c, dtype=torch.float64) + 3).to(dtype)
    y = torch.randn(b, f * t, c, dtype=torch.float64).to(dtype)
    w = (1 + 0.1 * torch.randn(c, dtype=torch.float64)).to(dtype)
    e = modulation(b, f, c, dtype, "cpu")
    shift, scale, gate = (per_frame(e[:, :, k].double(), t) for k in range(3))
    # The per-frame operands one element into a modulation tensor too.
    m = one_element_in(e.to(device).reshape(-1)).view(e.shape)
    xs, ys, ws = (one_element_in(v.to(device)) for v in (x, y, w))
    assert xs.is_contiguous() and xs.data_ptr() % 16 != 0
    xd = x.double()
    assert rel_err(arl2.rms_norm(xs, ws, 1e-6), naive_rms_norm(xd, w.double(), 1e-6)) < TOL[dtype]
    ref = naive_layer_norm(xd, 1e-6) * (1 + scale) + shift
    assert rel_err(arl2.layer_norm_modulate(xs, m[:, :, 0], m[:, :, 1], 1e-6), ref) < TOL[dtype]
    assert rel_err(arl2.gated_residual(xs, ys, m[:, :, 2]), xd + y.double() * gate) < TOL[dtype]


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_layer_norm_modulate_matches_naive(device, shape, dtype):
    skip_fp64_on_cuda(device, dtype)
    b, f, t, c = shape
    # A large mean: the variance must come from centred values.
    x = (2 * torch.randn(b, f * t, c, dtype=torch.float64) + 30).to(dtype)
    e = modulation(b, f, c, dtype, "cpu")
    shift, scale = e[:, :, 0], e[:, :, 1]
    ref = naive_layer_norm(x.double(), 1e-6) * (1 + per_frame(scale.double(), t)) + per_frame(shift.double(), t)
    if device == "cuda":
        poison_cuda_allocator(x.shape)
    e_dev = e.to(device)
    y = arl2.layer_norm_modulate(x.to(device), e_dev[:, :, 0], e_dev[:, :, 1], 1e-6)
    assert y.dtype == dtype and y.shape == x.shape
    assert rel_err(y, ref) < TOL[dtype]


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_gated_residual_matches_naive(device, shape, dtype):
    skip_fp64_on_cuda(device, dtype)
    b, f, t, c = shape
    x = torch.randn(b, f * t, c, dtype=torch.float64).to(dtype)
    y = torch.randn(b, f * t, c, dtype=torch.float64).to(dtype)
    e = modulation(b, f, c, dtype, "cpu")
    ref = x.double() + y.double() * per_frame(e[:, :, 2].double(), t)
    if device == "cuda":
        poison_cuda_allocator(x.shape)
    out = arl2.gated_residual(x.to(device), y.to(device), e.to(device)[:, :, 2])
    assert out.dtype == dtype and out.shape == x.shape
    assert rel_err(out, ref) < TOL[dtype]


def test_strided_inputs_match_contiguous(device):
    # A transposed x and per-frame operands of different strides take the copying paths of the glue.
    x = torch.randn(2, 64, 6, device=device).transpose(1, 2)  # [2, 6, 64], not contiguous
    shift, scale = torch.randn(2, 3, 64, device=device), torch.randn(2, 64, 3, device=device).transpose(1, 2)
    w = torch.randn(64, device=device)
    torch.testing.assert_close(arl2.rms_norm(x, w, 1e-6), arl2.rms_norm(x.contiguous(), w, 1e-6))
    torch.testing.assert_close(
        arl2.layer_norm_modulate(x, shift, scale, 1e-6),
        arl2.layer_norm_modulate(x.contiguous(), shift, scale.contiguous(), 1e-6),
    )
    torch.testing.assert_close(
        arl2.gated_residual(x, x, scale), arl2.gated_residual(x.contiguous(), x, scale.contiguous())
    )


def small_inputs(device="cpu", dtype=torch.float64, requires_grad=True):
    b, f, t, c = 2, 2, 3, 5
    e = torch.randn(b, f, 6, c, dtype=dtype, device=device)
    args = dict(
        x=torch.randn(b, f * t, c, dtype=dtype, device=device),
        y=torch.randn(b, f * t, c, dtype=dtype, device=device),
        w=torch.randn(c, dtype=dtype, device=device),
        shift=e[:, :, 0],
        scale=e[:, :, 1],
        gate=e[:, :, 2],
    )
    return {k: v.detach().requires_grad_(requires_grad) for k, v in args.items()}


FUNCTIONS = {
    "rms_norm": (lambda a: (a["x"], a["w"]), lambda x, w: arl2.rms_norm(x, w, 1e-5)),
    "layer_norm_modulate": (
        lambda a: (a["x"], a["shift"], a["scale"]),
        lambda x, shift, scale: arl2.layer_norm_modulate(x, shift, scale, 1e-5),
    ),
    "gated_residual": (lambda a: (a["x"], a["y"], a["gate"]), arl2.gated_residual),
}


@pytest.mark.parametrize("name", FUNCTIONS.keys())
def test_gradients_to_second_order(name):
    pick, fn = FUNCTIONS[name]
    inputs = pick(small_inputs())
    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("name", FUNCTIONS.keys())
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_gradients_match_autograd_of_the_naive_formula(device, name, dtype):
    pick, fn = FUNCTIONS[name]
    inputs = pick(small_inputs(device, dtype))
    naive = {
        "rms_norm": lambda x, w: naive_rms_norm(x, w, 1e-5),
        "layer_norm_modulate": lambda x, shift, scale: naive_layer_norm(x, 1e-5) * (1 + per_frame(scale, 3))
        + per_frame(shift, 3),
        "gated_residual": lambda x, y, gate: x + y * per_frame(gate, 3),
    }[name]
    ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
    d_out = torch.randn_like(fn(*inputs))
    grads = torch.autograd.grad(fn(*inputs), inputs, d_out)
    ref = torch.autograd.grad(naive(*ref_inputs), ref_inputs, d_out.double())
    for g, r in zip(grads, ref):
        assert g.dtype == dtype
        # largest over 1000 fresh seeds (CPU): fp32 9.4e-7 (median 1.1e-7; the normalisations' gradients are
        # differences, a light tail), bf16 3.6e-3: >= 5.6x below these
        assert rel_err(g, r) < (1e-5 if dtype == torch.float32 else 2e-2)


@pytest.mark.parametrize("name", FUNCTIONS.keys())
@pytest.mark.parametrize("requires_grad", [False, True], ids=["no_grad", "grad"])
def test_opcheck(device, name, requires_grad):
    a = small_inputs(device, torch.float32, requires_grad)
    args = {
        "rms_norm": (torch.ops.arl2.rms_norm.default, (a["x"], a["w"], 1e-6)),
        "layer_norm_modulate": (torch.ops.arl2.layer_norm_modulate.default, (a["x"], a["shift"], a["scale"], 1e-6)),
        "gated_residual": (torch.ops.arl2.gated_residual.default, (a["x"], a["y"], a["gate"])),
    }[name]
    torch.library.opcheck(*args)


def test_compile_fullgraph(device):
    backend = "aot_eager" if device == "cpu" else "inductor"
    a = small_inputs(device, torch.float32)

    def fn(x, shift, scale, gate, w):
        h = arl2.gated_residual(x, arl2.layer_norm_modulate(x, shift, scale, 1e-6), gate)
        return arl2.rms_norm(h, w, 1e-6).sum()

    inputs = (a["x"], a["shift"], a["scale"], a["gate"], a["w"])
    ref = torch.autograd.grad(fn(*inputs), inputs)
    out = torch.autograd.grad(torch.compile(fn, fullgraph=True, backend=backend)(*inputs), inputs)
    torch.testing.assert_close(out, ref)


X = torch.randn(2, 6, 8)
BAD = {
    "rms-weight": (lambda: arl2.rms_norm(X, torch.ones(7), 1e-6), r"rms_norm: weight must be \[C\]"),
    "rms-dtype": (lambda: arl2.rms_norm(X, torch.ones(8, dtype=torch.float64), 1e-6), "rms_norm: weight must have x's"),
    "rms-eps": (lambda: arl2.rms_norm(X, torch.ones(8), -1.0), "rms_norm: eps must be >= 0"),
    "ln-rank": (
        lambda: arl2.layer_norm_modulate(X[0], torch.ones(2, 2, 8), torch.ones(2, 2, 8), 1e-6),
        r"layer_norm_modulate: x must have shape \[B, L, C\]",
    ),
    "ln-shift": (
        lambda: arl2.layer_norm_modulate(X, torch.ones(2, 2, 7), torch.ones(2, 2, 8), 1e-6),
        r"layer_norm_modulate: shift must be \[B, F, C\]",
    ),
    "ln-frames": (
        lambda: arl2.layer_norm_modulate(X, torch.ones(2, 4, 8), torch.ones(2, 4, 8), 1e-6),
        "layer_norm_modulate: the frames F = 4 of shift must divide x's L = 6",
    ),
    "ln-scale-frames": (
        lambda: arl2.layer_norm_modulate(X, torch.ones(2, 2, 8), torch.ones(2, 3, 8), 1e-6),
        "layer_norm_modulate: shift and scale must have the same frames",
    ),
    "gr-y": (lambda: arl2.gated_residual(X, X[:, :3], torch.ones(2, 2, 8)), "gated_residual: y must have x's shape"),
    "gr-gate": (
        lambda: arl2.gated_residual(X, X, torch.ones(2, 2, 8, dtype=torch.float16)),
        "gated_residual: gate must have x's dtype",
    ),
    "gr-int": (lambda: arl2.gated_residual(X.int(), X.int(), X[:, :2].int()), "gated_residual: x must be float32"),
}


@pytest.mark.parametrize("call, message", BAD.values(), ids=BAD.keys())
def test_bad_arguments_are_named(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()
