"""Converts a Self Forcing / Causal Forcing / CausVid checkpoint, or an ARL2 hybrid saved by the authors' code (`.pt`,
a dict holding the DiT's state dict under `generator` and its EMA under `generator_ema`), into a safetensors file the
C++ model loads.

Keys are written as they are in the checkpoint: the C++ loader maps other projects' names to this model's (the
`model.` prefix, FSDP's and activation checkpointing's wrapper segments, the authors' `ffn.N.linear.` FFN adapters;
io::canonical_key) and reports missing, unexpected and mis-shaped tensors by name. The output is written atomically.
For a hybrid it prints the layers the file makes hybrid and the FFNs it adapts: the config's `hybrid:` section must
say the same (`layers`, `lora`, `ffn_lora_all_layers`) for the file to load.

    python3 scripts/convert_checkpoint.py causal_forcing.pt wan_causal.safetensors --key generator      # trained weights
    python3 scripts/convert_checkpoint.py ckpt.pt out.safetensors --key generator_ema                   # their EMA
A checkpoint that holds both needs --key; one that holds only `generator`, or is a bare state dict, converts as is.
"""
import argparse
import os
import re
import sys
from collections import Counter
from pathlib import Path

import torch

# The trained weights (what the authors', Self Forcing's and Causal Forcing's inference load unless told
# --use_ema) and their EMA. A checkpoint holding both converts only with --key naming one: neither is a safe
# guess, and the two differ in quality.
DEFAULT_KEY = "generator"
STATE_DICT_KEYS = (DEFAULT_KEY, "generator_ema")


def describe_entry(value):
    if isinstance(value, dict):
        return f"a dict of {len(value)} entries"
    if isinstance(value, torch.Tensor):
        return f"a tensor {list(value.shape)}"
    return type(value).__name__


def describe_entries(checkpoint):
    names = sorted(checkpoint, key=str)
    listed = ", ".join(f"{name!r} ({describe_entry(checkpoint[name])})" for name in names[:20])
    return listed + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def is_bare_state_dict(checkpoint):
    return bool(checkpoint) and all(isinstance(v, torch.Tensor) for v in checkpoint.values())


def pick_state_dict(checkpoint, key):
    """The state dict inside `checkpoint` under `key` (None: DEFAULT_KEY, or the checkpoint itself when it already
    maps names to tensors)."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f"expected a dict, got {type(checkpoint).__name__}")
    if key is None and DEFAULT_KEY not in checkpoint and is_bare_state_dict(checkpoint):
        return None, checkpoint
    if key is None and all(k in checkpoint for k in STATE_DICT_KEYS):
        raise ValueError(
            "the checkpoint holds both 'generator' and 'generator_ema': pass --key generator (the trained weights, "
            "what the authors' inference loads by default) or --key generator_ema (their EMA, inference's --use_ema)"
        )
    chosen = key or DEFAULT_KEY
    if chosen not in checkpoint:
        others = [k for k in STATE_DICT_KEYS if k != chosen and k in checkpoint]
        hint = f"; pass --key {others[0]} to convert that one" if others else ""
        raise ValueError(f"no {chosen!r} in the checkpoint; it holds {describe_entries(checkpoint)}{hint}")
    return chosen, checkpoint[chosen]


def hybrid_layout(names):
    """By block index: every block, the blocks holding a hybrid layer's memory path (its A_log) and the blocks whose
    FFN has an adapter; what the config's hybrid section must say."""
    blocks, hybrid, adapted_ffn = set(), set(), set()
    for name in names:
        found = re.search(r"(?:^|\.)blocks\.(\d+)\.", name)
        if found is None:
            continue
        block = int(found.group(1))
        blocks.add(block)
        if name.endswith("self_attn.A_log"):
            hybrid.add(block)
        if ".ffn." in name and name.endswith(".lora_A"):
            adapted_ffn.add(block)
    return {"blocks": sorted(blocks), "hybrid_layers": sorted(hybrid), "ffn_lora_layers": sorted(adapted_ffn)}


def convert(src: Path, dst: Path, key=None) -> dict:
    from safetensors.torch import save_file

    checkpoint = torch.load(src, map_location="cpu", weights_only=True)
    used_key, state = pick_state_dict(checkpoint, key)
    if not isinstance(state, dict):
        raise ValueError(f"{used_key!r} holds {describe_entry(state)}, not a state dict")
    bad = [name for name, value in state.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(f"{len(bad)} entries of {used_key or 'the state dict'} are not tensors, e.g. {bad[:5]}")
    tensors = {name: value.detach().contiguous() for name, value in state.items()}
    metadata = {"source": src.name, "state_dict_key": used_key or ""}
    tmp = dst.with_name(f"{dst.name}.tmp.{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "key": used_key,
        "tensors": len(tensors),
        "parameters": sum(t.numel() for t in tensors.values()),
        "dtypes": dict(Counter(str(t.dtype).removeprefix("torch.") for t in tensors.values())),
        **hybrid_layout(tensors),
    }


def hybrid_section_hint(summary) -> str:
    """What the converted hybrid holds and the config's hybrid section it loads under; empty for a plain model."""
    layers, adapted = summary["hybrid_layers"], summary["ffn_lora_layers"]
    if not layers:
        return ""
    holds = f"hybrid layers {layers}, FFN adapters on layers {adapted}"
    section = ["hybrid:", f"  layers: {layers}", f"  lora: {str(bool(adapted)).lower()}"]
    if adapted and adapted != layers:
        if adapted != summary["blocks"]:
            return f"{holds}: no hybrid section places FFN adapters so (on the hybrid layers or on every layer)"
        section.append("  ffn_lora_all_layers: true")
    return "\n".join([f"{holds}; load it under", *section])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the .pt file")
    parser.add_argument("output", type=Path, help="the .safetensors file to write")
    parser.add_argument(
        "--key", choices=STATE_DICT_KEYS,
        help=f"which state dict to take (default: {DEFAULT_KEY}, or a checkpoint that is a state dict itself)",
    )
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {args.checkpoint} does not exist")
    try:
        summary = convert(args.checkpoint, args.output, args.key)
    except ValueError as e:
        parser.exit(2, f"convert_checkpoint: {args.checkpoint}: {e}\n")
    print(
        f"wrote {args.output}: {summary['tensors']} tensors, {summary['parameters']:,} parameters "
        f"({summary['dtypes']}) from {summary['key'] or 'the top-level state dict'}"
    )
    hint = hybrid_section_hint(summary)
    if hint:
        print(hint)


if __name__ == "__main__":
    sys.exit(main())
