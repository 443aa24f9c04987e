"""arl2.rope3d against the Wan-style float64 table of arl2.naive: every dtype, CPU and CUDA, frames past
Wan's 1024-row table; inverse, gradients (to second order), opcheck, torch.compile; argument errors."""
import pytest
import torch

import arl2
from arl2.naive import naive_rope3d
from conftest import poison_cuda_allocator, rel_err

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}
# (B, grid, H, D, frame_offset): Wan's D = 128 split (44/42/42), a small D, and frames past 1024
CASES = [
    (2, (3, 4, 5), 2, 128, 0),
    (1, (2, 3, 2), 3, 12, 7),
    (1, (2, 2, 3), 2, 128, 4000),
]


def case_id(c):
    b, grid, h, d, offset = c
    return f"B{b}-F{grid[0]}x{grid[1]}x{grid[2]}-H{h}-D{d}-t{offset}"


@pytest.mark.parametrize("rope_case", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("inverse", [False, True], ids=["fwd", "inv"])
def test_matches_naive(device, rope_case, dtype, inverse):
    if device == "cuda" and dtype == torch.float64:
        pytest.skip("float64 runs on the CPU only")
    b, grid, h, d, offset = rope_case
    x = torch.randn(b, grid[0] * grid[1] * grid[2], h, d, dtype=torch.float64).to(dtype)
    ref = naive_rope3d(x.double(), grid, offset, inverse)
    if device == "cuda":
        poison_cuda_allocator(x.shape)
    y = arl2.rope3d(x.to(device), grid, offset, inverse)
    assert y.dtype == dtype and y.shape == x.shape
    # Largest over 554 fresh seeds (scripts/error_study.py, CPU): fp64 1.5e-16, fp32 4.4e-8, bf16 1.7e-3, fp16
    # 2.1e-4, each within 25% of its median (rounding alone, no tail): >= 6x below these.
    tol = {torch.float64: 1e-13, torch.float32: 1e-6}.get(dtype, 1e-2)
    assert rel_err(y, ref) < tol


def strided_input(x, layout):
    """x's values in another layout: heads-major storage (a per-head map's output), a buffer offset by one
    element (no 16-byte alignment), or every other element along D (a strided head dim)."""
    if layout == "heads_major":
        return x.permute(2, 0, 1, 3).contiguous().permute(1, 2, 0, 3)
    if layout == "unaligned":
        return torch.cat([x.new_zeros(1), x.flatten()])[1:].view(x.shape)
    return torch.stack([x, x], -1)[..., 0]


@pytest.mark.parametrize("layout", ["heads_major", "unaligned", "strided_d"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_strided_inputs(device, layout, dtype):
    grid, offset = (2, 3, 4), 9
    x = torch.randn(2, 24, 3, 128, dtype=torch.float64).to(dtype)
    ref = naive_rope3d(x.double(), grid, offset, False)
    y = arl2.rope3d(strided_input(x.to(device), layout), grid, offset)
    assert y.is_contiguous()
    assert rel_err(y, ref) < (1e-6 if dtype == torch.float32 else 1e-2)


def test_inverse_undoes_the_embedding(device):
    x = torch.randn(2, 3 * 4 * 5, 2, 64, device=device)
    y = arl2.rope3d(arl2.rope3d(x, (3, 4, 5), 1500), (3, 4, 5), 1500, inverse=True)
    assert rel_err(y, x) < 1e-6


def test_frames_past_1024_keep_float64_angles():
    # At frame 4000 the temporal pair 0 turns by 4000 rad: a float32 angle would be ~2e-4 rad off.
    x = torch.randn(1, 2 * 2 * 3, 1, 128)
    ref = naive_rope3d(x.double(), (2, 2, 3), 4000)
    assert rel_err(arl2.rope3d(x, (2, 2, 3), 4000), ref) < 1e-6


def test_gradients_to_second_order():
    x = torch.randn(1, 2 * 2 * 2, 2, 12, dtype=torch.float64, requires_grad=True)
    fn = lambda x: arl2.rope3d(x, (2, 2, 2), 3)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("requires_grad", [False, True], ids=["no_grad", "grad"])
def test_opcheck(device, requires_grad):
    x = torch.randn(2, 2 * 3 * 2, 2, 12, device=device, requires_grad=requires_grad)
    torch.library.opcheck(torch.ops.arl2.rope3d.default, (x, [2, 3, 2], 5, False))


def test_compile_fullgraph(device):
    backend = "aot_eager" if device == "cpu" else "inductor"
    x = torch.randn(1, 2 * 2 * 2, 2, 12, device=device, requires_grad=True)

    def fn(x):
        return (arl2.rope3d(x, (2, 2, 2), 9) * 2).sum()

    ref = torch.autograd.grad(fn(x), x)[0]
    out = torch.autograd.grad(torch.compile(fn, fullgraph=True, backend=backend)(x), x)[0]
    torch.testing.assert_close(out, ref)


BAD = {
    "rank": (torch.randn(12, 2, 8), (1, 3, 4), 0, r"x must have shape \[B, L, H, D\]"),
    "odd-dim": (torch.randn(1, 12, 2, 7), (1, 3, 4), 0, "the head dim D of x must be even"),
    "grid-size": (torch.randn(1, 12, 2, 8), (1, 3), 0, r"grid must be \[frames, height, width\]"),
    "grid-tokens": (torch.randn(1, 12, 2, 8), (2, 3, 4), 0, "x has L = 12 tokens but grid"),
    "dtype": (torch.ones(1, 12, 2, 8, dtype=torch.int32), (1, 3, 4), 0, "x must be float32"),
    "offset": (torch.randn(1, 12, 2, 8), (1, 3, 4), -1, "frame_offset must be >= 0"),
}


@pytest.mark.parametrize("x, grid, offset, message", BAD.values(), ids=BAD.keys())
def test_bad_arguments_are_named(x, grid, offset, message):
    with pytest.raises(RuntimeError, match="rope3d: " + message):
        arl2.rope3d(x, grid, offset)
