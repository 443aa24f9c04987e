"""Wan's text encoder (umT5, through the `transformers` package) from a Wan2.1 folder in the diffusers layout
(`tokenizer/` and `text_encoder/`, as in Wan-AI/Wan2.1-T2V-1.3B-Diffusers): prompts to the embeddings the DiT reads.

As Wan does, each prompt is tokenised to at most `max_length` tokens (the DiT's text_len), encoded with its attention
mask, and every position past its length is zero (the DiT attends to all text_len positions, the padding being
zeros)."""
from pathlib import Path

import torch


def check_model_dir(model_dir: Path, parts):
    """Raises FileNotFoundError naming the first of `parts` (sub-folders) that `model_dir` lacks."""
    for part in parts:
        if not (Path(model_dir) / part).is_dir():
            raise FileNotFoundError(
                f"{Path(model_dir) / part} is missing: the model folder must be a Wan2.1 folder in the diffusers "
                f"layout ({', '.join(p + '/' for p in parts)}), e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
            )


def load_tokenizer(model_dir: Path):
    """umT5's tokenizer from `model_dir`/tokenizer."""
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise RuntimeError("Wan's text encoder needs the transformers package: pip install transformers") from e
    check_model_dir(model_dir, ("tokenizer",))
    return AutoTokenizer.from_pretrained(Path(model_dir) / "tokenizer")


def load_text_encoder(model_dir: Path, dtype, device):
    """The UMT5EncoderModel from `model_dir`/text_encoder."""
    from transformers import UMT5EncoderModel

    check_model_dir(model_dir, ("text_encoder",))
    return UMT5EncoderModel.from_pretrained(Path(model_dir) / "text_encoder", dtype=dtype).to(device).eval()


def token_counts(prompts, tokenizer):
    """Each prompt's token count, special tokens included, untruncated."""
    return [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=True).input_ids]


@torch.no_grad()
def encode_prompts(prompts, tokenizer, encoder, max_length):
    """[N, max_length, d] embeddings, zero past each prompt's token count, and the counts [N] (cut at max_length)."""
    device = next(encoder.parameters()).device
    tokens = tokenizer(list(prompts), padding="max_length", max_length=max_length, truncation=True,
                       add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
    hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    return hidden * mask[..., None].to(hidden.dtype), mask.sum(1)
