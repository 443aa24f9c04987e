"""python -m arl2.video end to end on tiny random configs of Wan's classes (umT5 through transformers, the causal VAE
through diffusers) saved in the diffusers layout, with the tiny DiT: the mp4's frames, a prompt switch, the streamed
decode against a decode of the whole video, and bad input that fails before any work and leaves no file."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
diffusers = pytest.importorskip("diffusers")
av = pytest.importorskip("av")

import arl2  # noqa: E402,F401  (loads the op library)

try:
    from arl2 import _C  # noqa: F401
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

from arl2.wan_vae import StreamingDecoder, decode  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WORDS = "a red ball bouncing on wooden floor koi pond at dusk".split()


def make_vae():
    torch.manual_seed(0)
    # Two temporal and spatial downsamplings: 4x in time, as Wan's, and 4x in space; z_dim is the tiny DiT's in_dim.
    return diffusers.AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2], num_res_blocks=1,
                                      temperal_downsample=[True, True], latents_mean=[0.1] * 16,
                                      latents_std=[1.5] * 16, scale_factor_temporal=4,
                                      scale_factor_spatial=4).eval()


def make_model_dir(root: Path):
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                         unk_token="<unk>").save_pretrained(root / "tokenizer")
    # d_model is the tiny DiT's text_dim
    config = transformers.UMT5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=32, num_layers=1, num_heads=4,
                                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    transformers.UMT5EncoderModel(config).eval().save_pretrained(root / "text_encoder")
    make_vae().save_pretrained(root / "vae")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    make_model_dir(root / "wan")
    config = root / "tiny.yaml"
    config.write_text(
        "model:\n  preset: tiny\nhybrid:\n  ratio: 0.5\n  lora: false\n"
        "inference:\n  denoising_steps: [1000, 500]\n  frames_per_block: 2\n  latent_height: 4\n  latent_width: 6\n"
        "  kv_window_frames: 6\n  kv_sink_frames: 2\n  dtype: float32\n  device: cpu\n"
    )
    return root


def run(setup, *args, out="video.mp4", extra_env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "arl2.video", "--model-dir", setup / "wan", "--config", setup / "tiny.yaml",
           "--out", setup / out, "--quiet", *args]
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=ROOT)


def read_mp4(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_a_video_with_a_prompt_switch(setup):
    # Blocks of 2 latent frames start at pixel frames 0, 5, 13, ...: 17 frames need 5 latent frames, 3 blocks.
    r = run(setup, "--prompt", "a red ball", "--prompt", "a koi pond at dusk", "--switch-at", "5", "--frames", "17",
            "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "17 frames (3 blocks, 2 prompt(s))" in r.stdout
    for stage in ("encode prompts", "first decoded frame", "generate (DiT)", "decode (VAE)", "write (H.264)"):
        assert stage in r.stdout
    frames = read_mp4(setup / "video.mp4")
    assert len(frames) == 17 and frames[0].shape == (16, 24, 3)
    assert [p.name for p in setup.iterdir() if ".tmp" in p.name] == []

    # The softmax layer's window made again under the new prompt; then the same file replaced on request.
    r = run(setup, "--prompt", "a red ball", "--prompt", "a koi pond at dusk", "--switch-at", "5", "--frames", "17",
            "--recache", out="again.mp4")
    assert r.returncode == 0, r.stderr
    assert len(read_mp4(setup / "again.mp4")) == 17
    r = run(setup, "--prompt", "a red ball", "--frames", "11", "--seed", "3", "--overwrite", out="again.mp4")
    assert r.returncode == 0, r.stderr
    assert len(read_mp4(setup / "again.mp4")) == 11


def test_a_streamed_decode_equals_a_decode_of_the_whole_video():
    vae = make_vae()
    latents = torch.randn(1, 16, 7, 4, 6)
    whole = decode(vae, latents)
    decoder = StreamingDecoder(vae)
    streamed = torch.cat([decoder.decode(latents[:, :, i:i + n]) for i, n in ((0, 3), (3, 1), (4, 3))], 1)
    assert streamed.shape == whole.shape == (1, 1 + 4 * 6, 16, 24, 3)
    # The same convolutions over the same frames: equal in 40 of 40 seeds measured; 1 level allows a value that
    # rounds the other way at a .5 boundary.
    assert (streamed.int() - whole.int()).abs().max() <= 1


@pytest.mark.parametrize("args, message", [
    (["--prompt", "a", "--prompt", "b", "--switch-at", "7", "--frames", "11"],
     "--switch-at 7: a prompt can switch only where a block starts"),
    (["--prompt", "a", "--prompt", "b", "--frames", "11"], "2 prompts need 1 --switch-at frames, got 0"),
    (["--prompt", "a red ball bouncing on wooden floor at dusk"], "--prompt 1 is 10 tokens; the model reads at most 8"),
    (["--prompt", "a", "--frames", "0"], "--frames must be at least 1"),
    (["--prompt", "a", "--set", "inference.kv_window_frames=1"], "inference.kv_window_frames (1) must hold"),
])
def test_bad_input_fails_with_a_clear_message_and_leaves_no_file(setup, args, message):
    r = run(setup, *args, out="bad.mp4")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (setup / "bad.mp4").exists()
    assert [p.name for p in setup.iterdir() if ".tmp" in p.name] == []


def test_a_missing_part_or_an_existing_file_is_refused(setup, tmp_path):
    partial = tmp_path / "wan"
    make_model_dir(partial)
    shutil.rmtree(partial / "vae")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, "-m", "arl2.video", "--model-dir", str(partial), "--config",
                        str(setup / "tiny.yaml"), "--prompt", "a", "--out", str(tmp_path / "v.mp4")],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 1 and "vae is missing" in r.stderr, r.stderr
    (setup / "exists.mp4").write_bytes(b"keep")
    r = run(setup, "--prompt", "a", out="exists.mp4")
    assert r.returncode == 1 and "exists; pass --overwrite" in r.stderr
    assert (setup / "exists.mp4").read_bytes() == b"keep"


def test_help():
    r = subprocess.run([sys.executable, "-m", "arl2.video", "--help"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "python")}, cwd=ROOT)
    assert r.returncode == 0 and "--switch-at" in r.stdout
