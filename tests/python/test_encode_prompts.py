"""scripts/encode_prompts.py on a tiny random umT5 encoder and a word-level tokenizer saved in the diffusers
layout: shapes, zeros past each prompt's length, agreement with a direct encoder call, metadata, errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
from safetensors import safe_open  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "encode_prompts.py"
WORDS = "a red ball bouncing on wooden floor koi pond at dusk".split()


def make_model_dir(root: Path):
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                                unk_token="<unk>")
    fast.save_pretrained(root / "tokenizer")
    config = transformers.UMT5Config(vocab_size=len(vocab), d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
                                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    encoder = transformers.UMT5EncoderModel(config).eval()
    encoder.save_pretrained(root / "text_encoder")
    return fast, encoder


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_embeddings_match_the_encoder_and_are_zero_past_each_prompt(tmp_path):
    tokenizer, encoder = make_model_dir(tmp_path)
    prompts = ["a red ball bouncing", "koi pond at dusk on a wooden floor"]
    out = tmp_path / "prompts.safetensors"
    r = run("--model-dir", tmp_path, "--out", out, "--max-length", 12, "--dtype", "fp32", "--device", "cpu",
            "--prompt", prompts[0], "--prompt", prompts[1])
    assert r.returncode == 0, r.stderr
    with safe_open(str(out), "pt") as f:
        emb = f.get_tensor("text_embeddings")
        assert json.loads(f.metadata()["prompts"]) == prompts
    assert emb.shape == (2, 12, 16) and emb.dtype == torch.float32
    for i, p in enumerate(prompts):
        n = len(p.split()) + 1  # the words and </s>
        ids = torch.tensor([tokenizer(p).input_ids])
        with torch.no_grad():
            ref = encoder(input_ids=ids).last_hidden_state[0]
        assert torch.allclose(emb[i, :n], ref, atol=1e-5), i
        assert emb[i, n:].abs().max() == 0


def test_prompts_file_and_bf16(tmp_path):
    make_model_dir(tmp_path)
    (tmp_path / "prompts.txt").write_text("a red ball\n\nkoi pond\n")
    out = tmp_path / "p.safetensors"
    r = run("--model-dir", tmp_path, "--prompts-file", tmp_path / "prompts.txt", "--out", out, "--max-length", 8,
            "--device", "cpu")
    assert r.returncode == 0, r.stderr
    with safe_open(str(out), "pt") as f:
        assert f.get_tensor("text_embeddings").shape == (2, 8, 16)
        assert f.get_tensor("text_embeddings").dtype == torch.bfloat16


def test_errors_are_clear(tmp_path):
    r = run("--model-dir", tmp_path, "--out", tmp_path / "x.safetensors", "--prompt", "a")
    assert r.returncode == 1 and "tokenizer is missing" in r.stderr and "diffusers layout" in r.stderr
    make_model_dir(tmp_path)
    r = run("--model-dir", tmp_path, "--out", tmp_path / "x.safetensors")
    assert r.returncode == 1 and "no prompts" in r.stderr
    assert not (tmp_path / "x.safetensors").exists()
