"""Encodes text prompts into the embeddings `arl2 generate` reads: Wan's umT5 encoder, run through the
`transformers` package from the user's Wan2.1 checkpoint folder in the diffusers layout (with `tokenizer/` and
`text_encoder/`, as in Wan-AI/Wan2.1-T2V-1.3B-Diffusers), as `arl2.wan_text` runs it. The output holds `text_embeddings` [N, max_length, text_dim] and, in the metadata, the prompts as JSON; it is
written atomically.

    python3 scripts/encode_prompts.py --model-dir Wan2.1-T2V-1.3B-Diffusers --out prompts.safetensors \\
        --prompt "a red ball bouncing on a wooden floor" --prompt "a koi pond at dusk"
    python3 scripts/encode_prompts.py --model-dir ... --prompts-file prompts.txt --out prompts.safetensors
"""
import argparse
import json
import os
import sys
from pathlib import Path

import torch

from arl2.wan_text import check_model_dir, encode_prompts, load_text_encoder, load_tokenizer

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def read_prompts(args):
    prompts = list(args.prompt or [])
    if args.prompts_file is not None:
        lines = Path(args.prompts_file).read_text(encoding="utf-8").splitlines()
        prompts += [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise ValueError("no prompts: pass --prompt TEXT (repeatable) or --prompts-file FILE (one per line)")
    return prompts


def save_atomically(path: Path, tensors, metadata):
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="Wan2.1 folder, diffusers layout")
    parser.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    parser.add_argument("--prompts-file", type=Path, help="a text file, one prompt per line")
    parser.add_argument("--out", type=Path, required=True, help="the safetensors file to write")
    parser.add_argument("--max-length", type=int, default=512, help="text tokens (the model's text_len; 512 for Wan)")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16", help="encoder and output dtype")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        prompts = read_prompts(args)
        check_model_dir(args.model_dir, ("tokenizer", "text_encoder"))
        tokenizer = load_tokenizer(args.model_dir)
        encoder = load_text_encoder(args.model_dir, DTYPES[args.dtype], torch.device(args.device))
        embeddings, lengths = encode_prompts(prompts, tokenizer, encoder, args.max_length)
        truncated = [p for p, n in zip(prompts, lengths.tolist()) if n >= args.max_length]
        if truncated:
            print(f"encode_prompts: {len(truncated)} prompt(s) cut to {args.max_length} tokens", file=sys.stderr)
        save_atomically(args.out, {"text_embeddings": embeddings.cpu().contiguous()},
                        {"prompts": json.dumps(prompts), "model_dir": args.model_dir.name})
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"encode_prompts: {e}", file=sys.stderr)
        return 1
    print(f"encode_prompts: {len(prompts)} prompt(s) -> {args.out} {tuple(embeddings.shape)} {args.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
