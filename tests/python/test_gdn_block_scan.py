"""arl2.gdn_block_scan against the float64 token loop of arl2.naive: states, final state and every
gradient over the case table (fp32/bf16/fp16, contiguous and strided, CPU and CUDA); gradcheck,
opcheck, fake-tensor strides and torch.compile; argument errors through Python."""
import pytest
import torch

import arl2
from arl2.naive import naive_gdn_block_scan
from conftest import SHAPES, GdnCase, make_inputs, poison_cuda_allocator, rel_err, to_kernel, tolerances

TINY = GdnCase(2, 8, 2, 16, 16, 4, 1.0, True)  # K, V multiples of 16: the CUDA kernels need them


def scan(x, block_len):
    return arl2.gdn_block_scan(x["k"], x["v"], x["g"], x["beta"], block_len, x.get("h0"))


def forward_op(x, block_len):
    return torch.ops.arl2._gdn_block_scan_forward(x["k"], x["v"], x["g"], x["beta"], block_len, x.get("h0"))


def naive(x, block_len):
    return naive_gdn_block_scan(x["k"], x["v"], x["g"], x["beta"], block_len, x.get("h0"))


def weighted_sum(outputs, weights):
    # A scalar loss rather than grad_outputs: without an initial state and with one block, the
    # reference's states do not depend on any input.
    return sum((o * w.to(o)).sum() for o, w in zip(outputs, weights))


def kernel_inputs(x, case, device, layout):
    return {
        n: to_kernel(t, case.dtype if n in ("k", "v") else torch.float32, device, layout)
        for n, t in x.items()
        if n != "q" and t is not None
    }


# Inputs that once cost the CUDA backward 300 times a float32 token loop's dg error: with the strong decay the
# final state hangs on the last tokens alone, and one of the chunk's gate terms is 1e4 times what survives of
# it (ops/kernels/cuda/NOTES.md, "float32 dg under strong decay").
ONE_TOKEN_DOMINATES = (SHAPES[3], 3254383153)


def test_matches_naive(case, device, layout, tol):
    check_matches_naive(case, device, layout, tol)


def test_matches_naive_where_one_token_dominates(device, layout):
    case, seed = ONE_TOKEN_DOMINATES
    torch.manual_seed(seed)
    check_matches_naive(case, device, layout, tolerances(case, device))


def check_matches_naive(case, device, layout, tol):
    errs = scan_errors(case, device, layout)
    tol_state, tol_grad = tol
    assert all(errs[n] < tol_state for n in ("states", "final_state")), errs
    assert all(errs[n] < tol_grad for n in ("dk", "dv", "dg", "dbeta")), errs


def scan_errors(case, device, layout, reference=naive):
    """Relative errors of the states, the final state and every gradient against `reference` (float64, the token
    loop unless scripts/error_study.py passes a faster one) on fresh inputs of `case`."""
    x = make_inputs(case)
    ref_in = {n: t.requires_grad_() for n, t in x.items() if n != "q" and t is not None}
    ref = reference(ref_in, case.block_len)
    # Upstream gradients rounded to float32, the dtype the kernel receives them in.
    d_out = [torch.randn_like(r).float().double() for r in ref]
    ref_grads = torch.autograd.grad(weighted_sum(ref, d_out), list(ref_in.values()))

    inputs = kernel_inputs(x, case, device, layout)
    if device == "cuda":
        poison_cuda_allocator(*(r.shape for r in ref))
    out = scan(inputs, case.block_len)
    if device == "cuda":
        poison_cuda_allocator(*(t.shape for t in inputs.values()))
    grads = torch.autograd.grad(weighted_sum(out, d_out), list(inputs.values()))

    assert out[0].dtype == out[1].dtype == torch.float32
    assert all(g.dtype == t.dtype for g, t in zip(grads, inputs.values()))
    errs = {"states": rel_err(out[0], ref[0]), "final_state": rel_err(out[1], ref[1])}
    errs.update({"d" + n: rel_err(g, r) for n, g, r in zip(inputs, grads, ref_grads)})
    return errs


def test_transitions_are_the_blocks_linear_maps(device):
    # M_b maps the state a block starts from to the state it ends with, less what the block writes:
    # the block run from the identity with v = 0. Block 0's is not returned (nothing needs it).
    c = GdnCase(2, 12, 3, 16, 32, 4, 1.0, True)
    nb = c.T // c.block_len
    x = make_inputs(c)
    transitions = forward_op(kernel_inputs(x, c, device, "contiguous"), c.block_len)[2]
    assert transitions.shape == (c.B, nb - 1, c.H, c.K, c.K)
    eye = torch.eye(c.K, dtype=torch.float64).expand(c.B, c.H, c.K, c.K)
    for b in range(1, nb):
        block = slice(b * c.block_len, (b + 1) * c.block_len)
        k, g, beta = (x[n][:, block] for n in ("k", "g", "beta"))
        ref = naive_gdn_block_scan(k, torch.zeros_like(k), g, beta, c.block_len, eye)[1]
        assert rel_err(transitions[:, b - 1], ref) < 1e-5


@pytest.mark.parametrize("used", ["states", "final_state"])
def test_one_output_used(device, used):
    # The unused output gets no gradient; the backward must accept its absence.
    x = make_inputs(TINY)
    pick = 0 if used == "states" else 1
    ref_in = {n: t.requires_grad_() for n, t in x.items() if n != "q"}
    ref_grads = torch.autograd.grad(naive(ref_in, TINY.block_len)[pick].sum(), list(ref_in.values()))
    inputs = kernel_inputs(x, TINY, device, "contiguous")
    grads = torch.autograd.grad(scan(inputs, TINY.block_len)[pick].sum(), list(inputs.values()))
    errs = {"d" + n: rel_err(g, r) for n, g, r in zip(inputs, grads, ref_grads)}
    assert all(e < 1e-4 for e in errs.values()), errs


@pytest.mark.parametrize("initial_state", [True, False], ids=["h0", "no_h0"])
def test_gradcheck(initial_state):
    c = GdnCase(2, 6, 2, 3, 4, 3, 4.0, initial_state)
    x = {n: t.requires_grad_() for n, t in make_inputs(c).items() if n != "q" and t is not None}
    names = list(x)

    def fn(*tensors):
        return scan(dict(zip(names, tensors)), c.block_len)

    assert torch.autograd.gradcheck(fn, tuple(x.values()))


def opcheck_samples(device, requires_grad):
    for c in (TINY, GdnCase(1, 12, 1, 16, 32, 6, 1.0, False, torch.bfloat16)):
        x = kernel_inputs(make_inputs(c), c, device, "contiguous")
        for t in x.values():
            t.requires_grad_(requires_grad)
        args = (x["k"], x["v"], x["g"], x["beta"], c.block_len, x.get("h0"))
        yield torch.ops.arl2.gdn_block_scan.default, args
        yield torch.ops.arl2._gdn_block_scan_forward.default, args
        # The backward op only ever runs on tensors that do not require grad: it refuses double backward,
        # which opcheck's aot_dispatch test would otherwise ask of it.
        x = {n: t.detach() for n, t in x.items()}
        states, final_state, transitions = forward_op(x, c.block_len)
        fwd = (x["k"], x["v"], x["g"], x["beta"], states, transitions, c.block_len)
        for d_states, d_final in ((torch.randn_like(states), torch.randn_like(final_state)), (None, final_state)):
            yield torch.ops.arl2._gdn_block_scan_backward.default, (d_states, d_final, *fwd)


@pytest.mark.parametrize("requires_grad", [False, True], ids=["no_grad", "grad"])
def test_opcheck(device, requires_grad):
    for op, args in opcheck_samples(device, requires_grad):
        torch.library.opcheck(op, args)


def test_fake_strides_match_real():
    # torch.compile lays out its buffers from the Meta kernel's strides and asserts them against the
    # real outputs, so a dense but permuted input (here heads-first k) must not change what Meta reports.
    x = kernel_inputs(make_inputs(TINY), TINY, "cpu", "contiguous")
    x = {n: t.detach() for n, t in x.items()}
    x["k"] = x["k"].transpose(1, 2).contiguous().transpose(1, 2)
    states, final_state, transitions = forward_op(x, TINY.block_len)
    samples = [
        (torch.ops.arl2._gdn_block_scan_forward.default, (x["k"], x["v"], x["g"], x["beta"], TINY.block_len, x["h0"])),
        (
            torch.ops.arl2._gdn_block_scan_backward.default,
            (
                torch.randn_like(states),
                final_state,
                *(x[n] for n in ("k", "v", "g", "beta")),
                states,
                transitions,
                TINY.block_len,
            ),
        ),
    ]
    for op, args in samples:
        real = op(*args)
        fake = op(*(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args))
        assert [t.stride() for t in fake] == [t.stride() for t in real], op


def test_compile_fullgraph(device):
    # aot_eager on the CPU traces forward and backward through the Meta kernels without inductor's
    # C++ codegen (a minute on two cores); the device run goes through inductor.
    backend = "aot_eager" if device == "cpu" else "inductor"
    c = TINY
    x = make_inputs(c)
    qkv = torch.cat([x["q"], x["k"], x["v"]], -1).float().to(device).requires_grad_()
    g, beta, h0 = (x[n].float().to(device) for n in ("g", "beta", "h0"))

    def layer(qkv):
        q, k, v = qkv.split([c.K, c.K, c.V], -1)
        states, final_state = arl2.gdn_block_scan(k, v, g, beta, c.block_len, h0)
        return 2 * arl2.gdn_block_read(q, states, c.block_len) + 1, final_state

    def run(fn):
        o, final_state = fn(qkv)
        loss = (o * torch.arange(o.numel(), device=device).view_as(o)).sum() + final_state.square().sum()
        return (o, final_state, *torch.autograd.grad(loss, qkv))

    ref = run(layer)
    out = run(torch.compile(layer, fullgraph=True, backend=backend))
    for r, t in zip(ref, out):
        torch.testing.assert_close(t, r)


def error_args():
    x = {n: t.detach() for n, t in kernel_inputs(make_inputs(TINY), TINY, "cpu", "contiguous").items()}
    return dict(k=x["k"], v=x["v"], g=x["g"], beta=x["beta"], block_len=TINY.block_len, initial_state=x["h0"])


BAD_ARGS = {
    "k-dtype": ("k", lambda a: a["k"].int(), "k must be float32, bfloat16, float16 or float64"),
    "k-rank": ("k", lambda a: a["k"][0], r"k must have shape \[B, T, H, K\]"),
    "v-length": ("v", lambda a: a["v"][:, :4], r"v must have shape \[B, T, H, V\]"),
    "v-dtype": ("v", lambda a: a["v"].half(), r"v must be Float \(the dtype of k\), got Half"),
    "g-dtype": ("g", lambda a: a["g"].double(), "g must be Float"),
    "beta-shape": ("beta", lambda a: a["beta"][..., None], r"beta must have shape \[B, T, H\]"),
    "h0-shape": ("initial_state", lambda a: a["initial_state"][:, :1], "initial_state must have shape"),
    "block_len": ("block_len", lambda a: 3, "must be a multiple of block_len = 3"),
}


@pytest.mark.parametrize("name, change, message", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments_are_named(name, change, message):
    args = error_args()
    args[name] = change(args)
    with pytest.raises(RuntimeError, match="gdn_block_scan: .*" + message):
        arl2.gdn_block_scan(**args)


def test_check_finite_names_the_argument():
    args = error_args()
    args["g"][0, 1, 0] = float("nan")
    arl2.gdn_block_scan(**args)  # off by default: no host sync, no error
    with pytest.raises(ValueError, match="gdn_block_scan: g holds NaN or infinite values"):
        arl2.gdn_block_scan(**args, check_finite=True)


@pytest.mark.requires_cuda
def test_float64_is_cpu_only():
    args = {n: t.double().cuda() if isinstance(t, torch.Tensor) else t for n, t in error_args().items()}
    with pytest.raises(RuntimeError, match="k is float64, which runs on the CPU only"):
        arl2.gdn_block_scan(**args)


@pytest.mark.requires_cuda
def test_cuda_head_dim_limits_are_named():
    # K = 8 runs on the CPU but not in the CUDA kernels' tensor-core tiles: a clear error, not a crash.
    c = GdnCase(1, 8, 1, 8, 16, 4, 1.0, False)
    x = {n: t.detach() for n, t in kernel_inputs(make_inputs(c), c, "cuda", "contiguous").items()}
    with pytest.raises(RuntimeError, match=r"gdn_block_scan: the CUDA kernels need the key head dim K .* got K = 8"):
        scan(x, c.block_len)
    with pytest.raises(RuntimeError, match="gdn_block_read: the CUDA kernels need the key head dim K"):
        arl2.gdn_block_read(torch.randn(1, 8, 1, 8, device="cuda"), torch.randn(1, 2, 1, 8, 16, device="cuda"), 4)
