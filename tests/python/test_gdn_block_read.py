"""arl2.gdn_block_read and its gated form (arl2::_gdn_block_read_gated, hybrid_attention's sum of its
branches) against arl2.naive: outputs and gradients over the case table (fp32/bf16/fp16, contiguous and
strided, CPU and CUDA); gradcheck, opcheck and fake-tensor strides; argument errors through Python."""
import pytest
import torch

import arl2
from arl2.naive import naive_gdn_block_read
from conftest import GdnCase, make_inputs, poison_cuda_allocator, rel_err, to_kernel

TINY = GdnCase(2, 8, 2, 16, 32, 4, 1.0, False)  # K, V multiples of 16: the CUDA kernels need them


def read_inputs(c):
    """float64 q and states, rounded to the dtypes the kernel sees (q's dtype; float32 states)."""
    states = torch.randn(c.B, c.T // c.block_len, c.H, c.K, c.V, dtype=torch.float64)
    return make_inputs(c)["q"], states.float().double()


def test_matches_naive(case, device, layout, tol):
    q, states = read_inputs(case)
    ref_q, ref_states = q.clone().requires_grad_(), states.clone().requires_grad_()
    ref = naive_gdn_block_read(ref_q, ref_states, case.block_len, case.K**-0.5)
    d_o = torch.randn_like(ref).to(case.dtype).double()  # o's gradient arrives in o's dtype
    ref_grads = torch.autograd.grad(ref, (ref_q, ref_states), d_o)

    q, states = to_kernel(q, case.dtype, device, layout), to_kernel(states, torch.float32, device, layout)
    if device == "cuda":
        poison_cuda_allocator(ref.shape)
    o = arl2.gdn_block_read(q, states, case.block_len)  # scale defaults to K ** -0.5
    if device == "cuda":
        poison_cuda_allocator(q.shape, states.shape)
    dq, d_states = torch.autograd.grad(o, (q, states), d_o.to(device, case.dtype))

    # The read is linear in q and the states: its error is rounding only, with a thin tail. Over 2000 fresh seeds
    # of each of the first contiguous CPU cases (scripts/error_study.py), the largest o / dq / d_states errors:
    # fp32 1.9e-7 (tolerance 1e-5), fp16 2.3e-4 and bf16 1.8e-3 (5e-3; 1e-2 for gradients), each within 10% of
    # its median.
    tol_out, tol_grad = tol
    assert o.dtype == dq.dtype == case.dtype and d_states.dtype == torch.float32
    assert rel_err(o, ref) < tol_out
    errs = {"dq": rel_err(dq, ref_grads[0]), "d_states": rel_err(d_states, ref_grads[1])}
    assert all(e < tol_grad for e in errs.values()), errs


def gated_inputs(c):
    """float64 residual [B, T, H, V] and gate [B, T, H] in (0, 1), rounded to q's dtype."""
    residual = torch.randn(c.B, c.T, c.H, c.V, dtype=torch.float64).to(c.dtype).double()
    gate = torch.rand(c.B, c.T, c.H, dtype=torch.float64).to(c.dtype).double()
    return residual, gate


def gated_read(residual, gate, q, states, block_len, scale):
    return torch.ops.arl2._gdn_block_read_gated(residual, gate, q, states, block_len, scale)


def test_gated_matches_naive(case, device, layout, tol):
    q, states = read_inputs(case)
    residual, gate = gated_inputs(case)
    scale = case.K**-0.5
    inputs = (residual, gate, q, states)
    ref_inputs = [t.clone().requires_grad_() for t in inputs]
    r, g, rq, rs = ref_inputs
    ref = r + g[..., None] * naive_gdn_block_read(rq, rs, case.block_len, scale)
    d_o = torch.randn_like(ref).to(case.dtype).double()
    ref_grads = torch.autograd.grad(ref, ref_inputs, d_o)

    dtypes = (case.dtype, case.dtype, case.dtype, torch.float32)
    kernel_inputs = [to_kernel(t, dt, device, layout) for t, dt in zip(inputs, dtypes)]
    if device == "cuda":
        poison_cuda_allocator(ref.shape)
    o = gated_read(*kernel_inputs, case.block_len, scale)
    grads = torch.autograd.grad(o, kernel_inputs, d_o.to(device, case.dtype))

    tol_out, tol_grad = tol
    assert o.dtype == case.dtype and o.is_contiguous()
    assert rel_err(o, ref) < tol_out
    names = ("d_residual", "d_gate", "dq", "d_states")
    errs = {n: rel_err(d, ref_d) for n, d, ref_d in zip(names, grads, ref_grads)}
    assert all(e < tol_grad for e in errs.values()), errs


def test_gradcheck():
    q, states = (t.requires_grad_() for t in read_inputs(TINY))
    assert torch.autograd.gradcheck(lambda q, s: arl2.gdn_block_read(q, s, TINY.block_len, 0.7), (q, states))
    residual, gate = (t.requires_grad_() for t in gated_inputs(TINY))
    assert torch.autograd.gradcheck(
        lambda r, g, q, s: gated_read(r, g, q, s, TINY.block_len, 0.7), (residual, gate, q, states)
    )


def opcheck_samples(device, requires_grad):
    for c in (TINY, GdnCase(1, 12, 1, 16, 16, 6, 1.0, False, torch.bfloat16)):
        q, states = read_inputs(c)
        q, states = q.to(device, c.dtype), states.to(device, torch.float32)
        yield torch.ops.arl2.gdn_block_read.default, (
            q.requires_grad_(requires_grad),
            states.requires_grad_(requires_grad),
            c.block_len,
            0.5,
        )
        residual, gate = (t.to(device, c.dtype).requires_grad_(requires_grad) for t in gated_inputs(c))
        yield torch.ops.arl2._gdn_block_read_gated.default, (residual, gate, q, states, c.block_len, 0.5)
        # Not with requires_grad: the backward op refuses double backward, which opcheck would ask of it.
        d_o = torch.randn(c.B, c.T, c.H, c.V, device=device, dtype=c.dtype)
        yield torch.ops.arl2._gdn_block_read_backward.default, (d_o, q.detach(), states.detach(), c.block_len, 0.5)


@pytest.mark.parametrize("requires_grad", [False, True], ids=["no_grad", "grad"])
def test_opcheck(device, requires_grad):
    for op, args in opcheck_samples(device, requires_grad):
        torch.library.opcheck(op, args)


def strides(out):
    return [t.stride() for t in (out if isinstance(out, tuple) else (out,))]


def test_fake_strides_match_real():
    # As in test_gdn_block_scan.py: dense but permuted inputs (heads-first q, V-major states) must not
    # change the strides the Meta kernels report.
    q, states = read_inputs(TINY)
    q = q.float().transpose(1, 2).contiguous().transpose(1, 2)
    states = states.float().transpose(-1, -2).contiguous().transpose(-1, -2)
    d_o = torch.randn(TINY.B, TINY.T, TINY.H, TINY.V)
    residual = d_o.transpose(1, 2).contiguous().transpose(1, 2)  # the gated read's output is contiguous
    gate = torch.rand(TINY.B, TINY.T, TINY.H)
    samples = [
        (torch.ops.arl2._gdn_block_read_gated.default, (residual, gate, q, states, TINY.block_len, 0.5)),
        (torch.ops.arl2.gdn_block_read.default, (q, states, TINY.block_len, 0.5)),
        (torch.ops.arl2._gdn_block_read_backward.default, (d_o, q, states, TINY.block_len, 0.5)),
    ]
    for op, args in samples:
        real = op(*args)
        fake = op(*(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args))
        assert strides(fake) == strides(real), op



def error_args():
    q, states = read_inputs(TINY)
    return dict(q=q.float(), states=states.float(), block_len=TINY.block_len)


BAD_ARGS = {
    "q-dtype": ("q", lambda a: a["q"].int(), "q must be float32, bfloat16, float16 or float64"),
    "q-rank": ("q", lambda a: a["q"][0], r"q must have shape \[B, T, H, K\]"),
    "states-blocks": ("states", lambda a: a["states"][:, :1], r"states must have shape \[B, T / block_len"),
    "states-dtype": ("states", lambda a: a["states"].double(), "states must be Float"),
    "block_len": ("block_len", lambda a: 3, "must be a multiple of block_len = 3"),
}


@pytest.mark.parametrize("name, change, message", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments_are_named(name, change, message):
    args = error_args()
    args[name] = change(args)
    with pytest.raises(RuntimeError, match="gdn_block_read: .*" + message):
        arl2.gdn_block_read(**args)


@pytest.mark.parametrize(
    "index, change, message",
    [
        (0, lambda t: t[..., :-1], r"residual must have shape \[B, T, H, V\]"),
        (1, lambda t: t[..., None], r"gate must have shape \[B, T, H\]"),
        (1, lambda t: t.double(), "gate must be Float"),
        (0, lambda t: t.to("meta"), "residual is on meta but q is on cpu"),
    ],
    ids=["residual-shape", "gate-rank", "gate-dtype", "residual-device"],
)
def test_gated_bad_arguments_are_named(index, change, message):
    q, states = read_inputs(TINY)
    args = [*(t.float() for t in gated_inputs(TINY)), q.float(), states.float()]
    args[index] = change(args[index])
    with pytest.raises(RuntimeError, match="_gdn_block_read_gated: .*" + message):
        gated_read(*args, TINY.block_len, 0.5)


def test_check_finite_names_the_argument():
    args = error_args()
    args["states"][0, 1, 0, 2, 3] = float("inf")
    arl2.gdn_block_read(**args)  # off by default: no host sync, no error
    with pytest.raises(ValueError, match="gdn_block_read: states holds NaN or infinite values"):
        arl2.gdn_block_read(**args, check_finite=True)
