"""Converts a Self Forcing / Causal Forcing / CausVid checkpoint (`.pt`, a dict holding the DiT's state dict under
`generator_ema` or `generator`) into a safetensors file the C++ model loads.

Keys are written as they are in the checkpoint: the C++ loader strips the `model.` and `_fsdp_wrapped_module.`
prefixes and reports missing, unexpected and mis-shaped keys by name. The output is written atomically.

    python3 scripts/convert_checkpoint.py self_forcing_dmd.pt wan_causal.safetensors            # EMA weights if present
    python3 scripts/convert_checkpoint.py ckpt.pt out.safetensors --key generator              # the raw generator
"""
import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import torch

CANDIDATE_KEYS = ("generator_ema", "generator")


def pick_state_dict(checkpoint, key):
    """The state dict inside `checkpoint`: under `key`, else under the first of CANDIDATE_KEYS present, else the
    checkpoint itself when it already maps names to tensors."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f"expected a dict, got {type(checkpoint).__name__}")
    if key is not None:
        if key not in checkpoint:
            raise ValueError(f"no key {key!r} in the checkpoint; it has {sorted(map(str, checkpoint))}")
        return key, checkpoint[key]
    for candidate in CANDIDATE_KEYS:
        if candidate in checkpoint:
            return candidate, checkpoint[candidate]
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return None, checkpoint
    raise ValueError(
        f"found none of {list(CANDIDATE_KEYS)} and the checkpoint is not a state dict; "
        f"its keys: {sorted(map(str, checkpoint))[:20]}; pass --key"
    )


def convert(src: Path, dst: Path, key=None) -> dict:
    from safetensors.torch import save_file

    checkpoint = torch.load(src, map_location="cpu", weights_only=True)
    used_key, state = pick_state_dict(checkpoint, key)
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
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the .pt file")
    parser.add_argument("output", type=Path, help="the .safetensors file to write")
    parser.add_argument("--key", choices=CANDIDATE_KEYS, help="which state dict to take (default: EMA if present)")
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


if __name__ == "__main__":
    sys.exit(main())
