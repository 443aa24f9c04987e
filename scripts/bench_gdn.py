"""Benchmark of arl2.gdn_block_scan / gdn_block_read against a PyTorch-eager implementation of the same
chunked math (and fla's Triton kernel, one call over the same tokens, when the `fla` package is there).

Prints a table of medians and writes JSON. Default shape is the product's: B=1, 7 blocks of 4680 tokens
(one 21-frame clip), H=12, D=128, bf16. On a CPU it runs a small shape unless told otherwise.

    python3 scripts/bench_gdn.py --json out.json
"""
import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import arl2  # noqa: E402

CHUNK = 64


def eager_chunked_scan(k, v, g, beta, block_len, initial_state=None):
    """The chunked WY/UT algorithm of ops/specs/gdn_block_scan.md (8)-(11) in eager PyTorch, in float32:
    chunks restart at block boundaries, the chunk-local parts are batched, the chain is a Python loop."""
    B, T, H, K = k.shape
    V = v.shape[-1]
    nb = T // block_len
    pad = (-block_len) % CHUNK
    nc = (block_len + pad) // CHUNK

    def chunks(x):  # [B, T, H, ...] -> [B, H, nb, nc, C, ...], zero-padded at each block's end
        x = x.float().reshape(B, nb, block_len, H, -1).transpose(2, 3)
        x = F.pad(x, (0, 0, 0, pad))
        return x.reshape(B, nb, H, nc, CHUNK, -1).transpose(1, 2)

    kc, vc = chunks(k), chunks(v)
    gc, bc = chunks(g.unsqueeze(-1)).squeeze(-1), chunks(beta.unsqueeze(-1)).squeeze(-1)
    G = gc.cumsum(-1)
    diff = G.unsqueeze(-1) - G.unsqueeze(-2)
    lower = torch.ones(CHUNK, CHUNK, dtype=torch.bool, device=k.device).tril(-1)
    gamma_ij = torch.where(lower, diff, torch.full_like(diff, -float("inf"))).exp()
    L = bc.unsqueeze(-1) * (kc @ kc.transpose(-1, -2)) * gamma_ij
    eye = torch.eye(CHUNK, device=k.device)
    A = torch.linalg.solve_triangular(eye + L, eye.expand_as(L), upper=False, unitriangular=True)
    W = A @ ((bc * G.exp()).unsqueeze(-1) * kc)
    U = A @ (bc.unsqueeze(-1) * vc)
    Kd = (G[..., -1:] - G).exp().unsqueeze(-1) * kc
    gamma_c = G[..., -1].exp()

    S = torch.zeros(B, H, K, V, device=k.device) if initial_state is None else initial_state.float()
    states = []
    for b in range(nb):
        states.append(S)
        for c in range(nc):
            v_new = U[:, :, b, c] - W[:, :, b, c] @ S
            S = gamma_c[:, :, b, c, None, None] * S + Kd[:, :, b, c].transpose(-1, -2) @ v_new
    return torch.stack(states, 1), S


def make_inputs(B, T, H, D, dtype, device, requires_grad):
    k = F.normalize(torch.randn(B, T, H, D, device=device), dim=-1).to(dtype)
    q = F.normalize(torch.randn(B, T, H, D, device=device), dim=-1).to(dtype)
    v = torch.randn(B, T, H, D, device=device).to(dtype)
    g = -8.0 * torch.rand(B, T, H, device=device) ** 3
    beta = 2.0 * torch.sigmoid(torch.randn(B, T, H, device=device))
    for t in (k, v, g, beta):
        t.requires_grad_(requires_grad)
    return q, k, v, g, beta


def median_ms(fn, device, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def fla_scan(k, v, g, beta):
    from fla.ops.gated_delta_rule import chunk_gated_delta_rule

    q = torch.zeros_like(k)
    _, final = chunk_gated_delta_rule(q, k, v, g, beta, output_final_state=True)
    return final


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=None, help="blocks per clip (default 7 on CUDA, 2 on CPU)")
    parser.add_argument("--block-len", type=int, default=None, help="tokens per block (default 4680; 128 on CPU)")
    parser.add_argument("--heads", type=int, default=None, help="heads (default 12; 2 on CPU)")
    parser.add_argument("--dim", type=int, default=None, help="head dim K = V (default 128; 32 on CPU)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()

    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    B = args.batch
    nb = args.blocks or (7 if on_cuda else 2)
    L = args.block_len or (4680 if on_cuda else 128)
    H = args.heads or (12 if on_cuda else 2)
    D = args.dim or (128 if on_cuda else 32)
    dtype = getattr(torch, args.dtype)
    reps = args.reps or (50 if on_cuda else 3)
    warmup = 5 if on_cuda else 1
    T = nb * L
    torch.manual_seed(0)

    q, k, v, g, beta = make_inputs(B, T, H, D, dtype, device, requires_grad=True)
    scale = D ** -0.5
    rows = []

    # The eager implementation is 40-80x slower: fewer repetitions give the same median to the digits shown.
    eager_reps = min(reps, 10)

    def record(name, fn, n=reps, **extra):
        ms = median_ms(fn, device, warmup, n)
        rows.append({"name": name, "median_ms": ms, "reps": n, **extra})
        print(f"{name:<44} {ms:10.3f} ms", flush=True)

    def scan_fwd():
        with torch.no_grad():
            return arl2.gdn_block_scan(k, v, g, beta, L)

    def scan_fwd_bwd():
        states, final = arl2.gdn_block_scan(k, v, g, beta, L)
        torch.autograd.grad((states, final), (k, v, g, beta), (d_states, d_final))

    states, final = scan_fwd()
    d_states, d_final = torch.randn_like(states), torch.randn_like(final)
    q1, k1, v1, g1, b1 = (x[:, :L].detach() for x in (q, k, v, g, beta))

    print(f"device {device} ({torch.cuda.get_device_name(device) if on_cuda else platform.processor() or platform.machine()}), "
          f"B={B} T={T} ({nb} x {L}) H={H} D={D} {args.dtype}, median of {reps} (eager: {eager_reps})")
    record("arl2 gdn_block_scan fwd", scan_fwd, tokens=T)
    record("arl2 gdn_block_scan fwd+bwd", scan_fwd_bwd, tokens=T)
    record("arl2 gdn_block_scan fwd, one block", lambda: arl2.gdn_block_scan(k1, v1, g1, b1, L), tokens=L)
    record("arl2 gdn_block_read fwd", lambda: arl2.gdn_block_read(q.detach(), states, L, scale), tokens=T)

    def eager_fwd():
        with torch.no_grad():
            return eager_chunked_scan(k, v, g, beta, L)

    def eager_fwd_bwd():
        s, f = eager_chunked_scan(k, v, g, beta, L)
        torch.autograd.grad((s, f), (k, v, g, beta), (d_states, d_final))

    ref_states, ref_final = eager_fwd()
    err = ((states - ref_states).norm() / ref_states.norm()).item()
    record("eager chunked fwd", eager_fwd, n=eager_reps, tokens=T)
    record("eager chunked fwd+bwd", eager_fwd_bwd, n=eager_reps, tokens=T)
    record("eager chunked fwd, one block", lambda: eager_chunked_scan(k1, v1, g1, b1, L), n=eager_reps, tokens=L)

    fla_note = None
    if on_cuda:
        try:
            with torch.no_grad():
                fla_final = fla_scan(k, v, g, beta)
            fla_err = ((final - fla_final.float()).norm() / final.norm()).item()
            record("fla chunk_gated_delta_rule fwd (one call)", lambda: fla_scan(k.detach(), v.detach(),
                                                                                  g.detach(), beta.detach()),
                   tokens=T, rel_err_final_vs_arl2=fla_err)
            record("fla chunk_gated_delta_rule fwd, one block", lambda: fla_scan(k1, v1, g1, b1), tokens=L)

            def fla_fwd_bwd():
                f = fla_scan(k, v, g, beta)
                torch.autograd.grad(f, (k, v, g, beta), d_final)

            record("fla chunk_gated_delta_rule fwd+bwd", fla_fwd_bwd, tokens=T)
        except Exception as e:  # fla is optional; say why it is missing from the table
            fla_note = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            print(f"fla: {fla_note}")

    by_name = {r["name"]: r["median_ms"] for r in rows}
    ratios = {
        "eager_over_arl2_fwd": by_name["eager chunked fwd"] / by_name["arl2 gdn_block_scan fwd"],
        "eager_over_arl2_fwd_bwd": by_name["eager chunked fwd+bwd"] / by_name["arl2 gdn_block_scan fwd+bwd"],
    }
    print(f"states rel. error arl2 vs eager chunked (float32): {err:.2e}")
    for name, r in ratios.items():
        print(f"{name}: {r:.2f}x")
    result = {
        "device": torch.cuda.get_device_name(device) if on_cuda else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "shape": {"B": B, "T": T, "blocks": nb, "block_len": L, "H": H, "D": D, "dtype": args.dtype},
        "reps": reps,
        "results": rows,
        "ratios": ratios,
        "states_rel_err_vs_eager": err,
        "fla_note": fla_note,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
