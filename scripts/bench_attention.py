"""The softmax attention of generation at its real shapes: one block's queries (4680 tokens of Wan-1.3B at
60 x 104 latents, 3 frames) against the keys of n committed blocks plus its own, 12 heads of 128, bf16, in
the [B, L, H, D] layout the model and its caches keep. Times every scaled_dot_product_attention backend and
the key-split form (the keys cut into s equal parts that run as one call with s batch entries, the parts
joined by their log-sum-exp), prints a table of medians with the rate in TFLOP/s and writes JSON.

    python3 scripts/bench_attention.py --json attention.json
    python3 scripts/bench_attention.py --blocks 1 8 40 77 --splits 1 2 3
"""
import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
}


def attend(q, k, v, backend):
    """[B, L, H, D] in and out, as csrc/model/attention_parts.cpp calls it."""
    with sdpa_kernel([BACKENDS[backend]]):
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)


def attend_split(q, k, v, splits):
    """The keys in `splits` equal parts as batch entries of one cuDNN call, joined by log-sum-exp."""
    B, Lq, H, D = q.shape
    Lk = k.shape[1]
    part = Lk // splits
    qs = q.unsqueeze(1).expand(B, splits, Lq, H, D).reshape(B * splits, Lq, H, D)
    ks = k.reshape(B * splits, part, H, D)
    vs = v.reshape(B * splits, part, H, D)
    out, lse = torch.ops.aten._scaled_dot_product_cudnn_attention(
        qs.transpose(1, 2), ks.transpose(1, 2), vs.transpose(1, 2), None, True, 0.0, False, False)[:2]
    out = out.view(B, splits, H, Lq, D)
    lse = lse.view(B, splits, H, Lq, 1)
    weights = torch.softmax(lse, dim=1)
    return (out.float() * weights).sum(1).to(q.dtype).transpose(1, 2)


def median_ms(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def run(args):
    device = torch.device("cuda")
    g = torch.Generator(device).manual_seed(0)
    H, D, L = args.heads, args.head_dim, args.block_tokens
    q = torch.randn(1, L, H, D, device=device, dtype=torch.bfloat16, generator=g)
    max_keys = L * (max(args.blocks) + 1)
    cache_k = torch.randn(1, max_keys, H, D, device=device, dtype=torch.bfloat16, generator=g)
    cache_v = torch.randn(1, max_keys, H, D, device=device, dtype=torch.bfloat16, generator=g)
    rows = []
    for n in args.blocks:
        keys = L * (n + 1)
        k, v = cache_k[:, :keys], cache_v[:, :keys]
        flop = 4.0 * L * keys * H * D
        ref = attend(q, k, v, "cudnn").float()
        variants = {f"sdpa:{b}": (lambda b=b: attend(q, k, v, b)) for b in args.backends}
        for s in args.splits:
            if s > 1 and keys % s == 0:
                variants[f"cudnn split {s}"] = lambda s=s: attend_split(q, k, v, s)
        for name, fn in variants.items():
            try:
                err = ((fn().float() - ref).norm() / ref.norm()).item()
                ms = median_ms(fn, args.iters)
            except RuntimeError as e:  # a backend that refuses the shape
                print(f"n={n} {name}: {str(e).splitlines()[0]}")
                continue
            rows.append({"blocks_before": n, "keys": keys, "variant": name, "ms": ms,
                         "tflops": flop / ms / 1e9, "rel_err_vs_cudnn": err})
            print(f"n={n:>3} keys={keys:>7} {name:<16} {ms:9.3f} ms {flop / ms / 1e9:7.1f} TFLOP/s  err {err:.1e}",
                  flush=True)
    return {"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version(), "block_tokens": L, "heads": H, "head_dim": D,
            "iters": args.iters, "rows": rows}


def write_json(path, result):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 8, 24, 48, 76],
                        help="committed blocks before the current one")
    parser.add_argument("--block-tokens", type=int, default=4680)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--splits", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    result = run(args)
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
