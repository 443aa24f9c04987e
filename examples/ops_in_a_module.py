"""The arl2 ops inside a PyTorch module: a gated delta rule memory layer that reads, for every block of
tokens, the state left by all blocks before it; trained with autograd, then compiled whole.

    PYTHONPATH=python python3 examples/ops_in_a_module.py [--device cuda]

(no PYTHONPATH after `pip install --no-build-isolation .`). Layouts and dtypes of each op: help(arl2.ops).
"""
import argparse

import torch
import torch.nn.functional as F

import arl2


class BlockMemory(torch.nn.Module):
    """o = read of the memory of earlier blocks, one GDN state per (batch, head); the hybrid layer of docs/design.md
    ("The method") without its softmax branch (arl2.hybrid_attention adds that one)."""

    def __init__(self, dim: int, heads: int, head_dim: int, block_len: int):
        super().__init__()
        self.heads, self.head_dim, self.block_len = heads, head_dim, block_len
        self.qkv = torch.nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.a_proj = torch.nn.Linear(dim, heads)  # per-token decay
        self.b_proj = torch.nn.Linear(dim, heads)  # per-token write strength
        self.out = torch.nn.Linear(heads * head_dim, dim, bias=False)
        self.norm = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        h = arl2.rms_norm(x, self.norm, 1e-6)
        q, k, v = self.qkv(h).view(B, T, 3, self.heads, self.head_dim).unbind(2)
        # Unit-norm keys and beta in (0, 2) keep the delta rule's write contracting (gdn_block_scan's docstring).
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        g = F.logsigmoid(self.a_proj(h))
        beta = 2 * torch.sigmoid(self.b_proj(h))
        states, _ = arl2.gdn_block_scan(k, v, g, beta, self.block_len)
        o = arl2.gdn_block_read(q, states, self.block_len)
        return x + self.out(o.reshape(B, T, -1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)

    model = BlockMemory(dim=32, heads=2, head_dim=16, block_len=8).to(args.device)
    x = torch.randn(2, 32, 32, device=args.device)
    target = torch.roll(x, shifts=8, dims=1)  # each block should recall the block before it
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(1, args.steps + 1):
        loss = F.mse_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()  # through the ops' C++ autograd kernels
        optimizer.step()
        if step == 1 or step % 5 == 0:
            print(f"step {step:3d}  loss {loss.item():.5f}")

    # fullgraph=True: the ops trace as single nodes (their Meta kernels give the shapes), no graph breaks.
    # aot_eager on the CPU traces forward and backward without inductor's C++ code generation (minutes on a
    # small machine); on CUDA inductor compiles the surrounding code.
    backend = "inductor" if args.device.startswith("cuda") else "aot_eager"
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    eager_grads = torch.autograd.grad(F.mse_loss(model(x), target), list(model.parameters()))
    compiled_grads = torch.autograd.grad(F.mse_loss(compiled(x), target), list(model.parameters()))
    torch.testing.assert_close(compiled_grads, eager_grads, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    print(f"torch.compile(fullgraph=True, backend={backend!r}) matches eager, forward and gradients")


if __name__ == "__main__":
    main()
