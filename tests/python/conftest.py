"""Shared pytest setup for the arl2 ops: the requires_cuda marker, device / layout fixtures, the case
table every op test is parametrised over, inputs drawn as in tests/cpp/gdn_test_util.h, the error
metric, and CUDA output poisoning.

Every test draws fresh inputs from a fresh seed. Two environment variables serve scripts/error_study.py,
which measures each tolerance's margin over many seeds: ARL2_SEED_REPEAT=N runs every test N times, each
with its own seed, and ARL2_ERROR_LOG=FILE appends every rel_err a test computes to FILE as a JSON line."""
import dataclasses
import json
import os

import pytest
import torch
import torch.nn.functional as F

DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclasses.dataclass(frozen=True)
class GdnCase:
    B: int
    T: int
    H: int
    K: int
    V: int
    block_len: int
    max_decay: float  # g is drawn from [-max_decay, 0]
    initial_state: bool
    dtype: torch.dtype = torch.float32  # of q, k, v; g, beta and states are float32

    def __str__(self):
        name = f"B{self.B}-T{self.T}-H{self.H}-K{self.K}-V{self.V}-L{self.block_len}-g{self.max_decay:g}"
        return name + ("-h0" if self.initial_state else "") + "-" + DTYPE_NAMES[self.dtype]


SHAPES = [
    GdnCase(1, 64, 1, 16, 16, 64, 1.0, False),  # one block, one full chunk, mild decay
    GdnCase(2, 200, 3, 16, 32, 100, 8.0, True),  # B > 1, blocks of 100 (partial last chunks)
    GdnCase(2, 320, 2, 32, 16, 64, 8.0, False),  # many blocks of one chunk each
    GdnCase(1, 4680, 1, 16, 16, 4680, 8.0, False),  # the model's block: 73 chunks of 64 and one of 8
    GdnCase(1, 84, 2, 16, 16, 7, 1.0, True),  # short blocks, mild decay: h0's gradient crosses blocks
]
CASES = [dataclasses.replace(s, dtype=d) for s in SHAPES for d in DTYPE_NAMES]


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_cuda: needs a CUDA device; skipped without one")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "requires_cuda" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    # A test that takes `case` runs over the whole table, with ids like B2-T200-H3-K16-V32-L100-g8-h0-bf16.
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", CASES, ids=str)
    repeat = int(os.environ.get("ARL2_SEED_REPEAT", "0"))
    if repeat > 0:
        metafunc.parametrize("_repeat", range(repeat), ids=lambda i: f"seed{i}")


@pytest.fixture
def _repeat():
    return 0


@pytest.fixture(autouse=True)
def _seed(_repeat):
    # Fresh inputs on every run; the seed is printed so a failure can be replayed (ARL2_TEST_SEED=N).
    seed = int(os.environ.get("ARL2_TEST_SEED", int.from_bytes(os.urandom(4), "little")))
    print(f"seed {seed}")
    torch.manual_seed(seed)
    _error_log.update(seed=seed, index=0)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.requires_cuda)])
def device(request):
    return request.param


@pytest.fixture(params=["contiguous", "strided"])
def layout(request):
    return request.param


def tolerances(case, device):
    """(states / outputs, gradients) tolerances of ops/specs/gdn_block_scan.md, which gives the measured error
    distributions behind them (scripts/error_study.py --scan)."""
    if case.dtype != torch.float32:
        return 5e-3, 1e-2
    return (1e-5, 1e-5) if device == "cpu" else (1e-4, 1e-4)


@pytest.fixture
def tol(case, device):
    return tolerances(case, device)


def make_inputs(c: GdnCase):
    """float64 CPU tensors q, k, v, g, beta, h0 (None without an initial state), already rounded to the
    dtypes the kernel sees, so a float64 reference on them sees exactly the kernel's inputs.

    L2-normalised q and k, beta in (0, 2), g in [-max_decay, 0] with a tenth of tokens at g = 0 (the
    gate-equals-one corner) and, cubed, most of the mass near 0 but a tail at the extreme."""
    f64 = dict(dtype=torch.float64)
    x = dict(
        q=F.normalize(torch.randn(c.B, c.T, c.H, c.K, **f64), dim=-1),
        k=F.normalize(torch.randn(c.B, c.T, c.H, c.K, **f64), dim=-1),
        v=torch.randn(c.B, c.T, c.H, c.V, **f64),
        g=-c.max_decay * torch.rand(c.B, c.T, c.H, **f64) ** 3,
        beta=2 * torch.sigmoid(torch.randn(c.B, c.T, c.H, **f64)),
        h0=torch.randn(c.B, c.H, c.K, c.V, **f64) if c.initial_state else None,
    )
    x["g"].masked_fill_(torch.rand(c.B, c.T, c.H) < 0.1, 0.0)
    for name, t in x.items():
        if t is not None:
            x[name] = t.to(c.dtype if name in ("q", "k", "v") else torch.float32).double()
    return x


def to_kernel(t, dtype, device, layout):
    """`t` cast and moved as the kernel takes it, as a fresh leaf that requires grad. "strided" gives the
    same values non-contiguously: every other element of a buffer whose dims 1 and 2 are swapped in
    storage (heads-first, as a [B, H, T, D] projection gives)."""
    t = t.to(device, dtype)
    if layout == "strided":
        t = torch.stack([t, t], -1).transpose(1, 2).contiguous().transpose(1, 2)[..., 0]
    return t.detach().requires_grad_()


_error_log = {"seed": None, "index": 0}


def rel_err(x, ref):
    """||x - ref|| / ||ref|| in float64 on the CPU; inf if x holds a non-finite value."""
    x, ref = x.detach().to("cpu", torch.float64), ref.detach().to("cpu", torch.float64)
    if not torch.isfinite(x).all():
        err = float("inf")
    else:
        denom = ref.norm().item()
        err = (x - ref).norm().item() / denom if denom > 0 else (x - ref).norm().item()
    log_error(err)
    return err


def log_error(err):
    """Appends `err` to $ARL2_ERROR_LOG, keyed by the test, the seed and its place among the test's errors."""
    path = os.environ.get("ARL2_ERROR_LOG")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        record = {"test": test, "seed": _error_log["seed"], "index": _error_log["index"], "error": err}
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    _error_log["index"] += 1


def poison_cuda_allocator(*shapes):
    """Fills free blocks of the caching allocator, of these shapes in 4-byte words, with all-ones bits
    (NaN as float32, bfloat16 and float16), so an output that reuses one and leaves an element
    unwritten fails the comparison instead of passing on stale data."""
    blocks = [torch.full(s, -1, dtype=torch.int32, device="cuda") for s in shapes]
    del blocks
