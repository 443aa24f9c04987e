"""Text to video in one command: python -m arl2.video.

1. Encodes the prompts with Wan's umT5 (arl2.wan_text).
2. Generates the latents block by block in C++: an arl2._C.Session on the model the config's inference section
   describes, teacher or hybrid, as `arl2 generate` builds it.
3. Decodes each block with Wan's causal VAE as soon as it is made (arl2.wan_vae.StreamingDecoder). The VAE's feature
   cache is carried from block to block, so the frames equal a decode of the whole video at once. The decode of
   one block overlaps the generation of the next (arl2.streaming).
4. Writes an H.264 mp4 through PyAV.

A later --prompt takes over at the pixel frame its --switch-at names, which must start a block.

    python -m arl2.video --model-dir Wan2.1-T2V-1.3B-Diffusers --config configs/wan2.1-1.3b-hybrid100.yaml \\
        --checkpoint self_forcing.safetensors --hybrid-checkpoint hybrid100.safetensors \\
        --prompt "a fox trots through deep snow" --prompt "the fox reaches a pine forest" --switch-at 81 \\
        --frames 241 --out fox.mp4

Models with softmax layers need a rolling window (--set inference.kv_window_frames=21, say) so that memory stays
flat. Everything is checked before any model is loaded. The mp4 appears only when it is complete, and an existing
file is kept unless --overwrite is given.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from .wan_vae import pixel_frames

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MODEL_PARTS = ("tokenizer", "text_encoder", "vae")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m arl2.video", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, required=True,
                        help="a Wan2.1 folder in the diffusers layout: tokenizer/, text_encoder/, vae/")
    parser.add_argument("--config", type=Path, required=True,
                        help="a config whose inference section describes the model (configs/wan2.1-1.3b-*.yaml)")
    parser.add_argument("--checkpoint", help="the teacher's weights (sets inference.checkpoint)")
    parser.add_argument("--hybrid-checkpoint", help="the hybrid's weights (sets inference.hybrid_checkpoint)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override, as arl2's --set (repeatable)")
    parser.add_argument("--prompt", action="append", required=True,
                        help="a prompt; repeat it for prompts that take over at the --switch-at frames")
    parser.add_argument("--switch-at", type=int, action="append", default=[], metavar="FRAME",
                        help="the pixel frame where the next prompt takes over (one per prompt after the first)")
    parser.add_argument("--recache", action="store_true",
                        help="at a switch, make the softmax layers' keys and values of the frames their windows "
                             "hold again under the new prompt (LongLive's re-cache)")
    parser.add_argument("--frames", type=int, default=81, help="pixel frames to write (default 81)")
    parser.add_argument("--fps", type=int, default=16, help="frames per second of the mp4 (Wan's: 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="the .mp4 to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--text-dtype", choices=DTYPES, default="bf16", help="the text encoder's dtype")
    parser.add_argument("--vae-dtype", choices=DTYPES, default="fp32", help="the VAE's dtype")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


class Plan:
    """The checked request: prompts, the latent blocks to make, where the prompts switch."""

    def __init__(self, args, config):
        self.prompts = args.prompt
        generation = config.generation
        self.frames_per_block = generation["frames_per_block"]
        if config.hybrid is None and generation["kv_window_frames"] == 0:
            raise ValueError(
                "the teacher's softmax layers keep keys and values that grow with the video: set "
                "inference.kv_window_frames (--set inference.kv_window_frames=21, say) to hold them in a rolling window"
            )
        # Latent frame 0 gives one pixel frame, every later one this many (4 for Wan), as the VAE's config says.
        vae_config = json.loads((args.model_dir / "vae" / "config.json").read_text())
        self.temporal = vae_config.get("scale_factor_temporal", 4)
        if args.frames < 1:
            raise ValueError(f"--frames must be at least 1, got {args.frames}")
        if args.fps < 1:
            raise ValueError(f"--fps must be at least 1, got {args.fps}")
        latent = 1 + math.ceil((args.frames - 1) / self.temporal)
        self.blocks = math.ceil(latent / self.frames_per_block)
        self.frames = args.frames
        if len(args.switch_at) != len(self.prompts) - 1:
            raise ValueError(
                f"{len(self.prompts)} prompts need {len(self.prompts) - 1} --switch-at frames, got {len(args.switch_at)}"
            )
        self.switch_blocks = {}  # block index -> prompt index
        previous = 0
        for i, frame in enumerate(args.switch_at):
            block = self.block_starting_at(frame)
            if block is None or frame >= self.frames or frame <= previous:
                starts = [self.first_pixel_frame(b) for b in range(1, min(self.blocks, 6))]
                raise ValueError(
                    f"--switch-at {frame}: a prompt can switch only where a block starts, after the previous switch "
                    f"and before --frames {self.frames}; blocks of {self.frames_per_block} latent frames start at "
                    f"pixel frames {', '.join(map(str, starts))}, ... (1 + {self.temporal} (L - 1) for latent frame L)"
                )
            self.switch_blocks[block] = i + 1
            previous = frame

    def first_pixel_frame(self, block):
        return pixel_frames(block * self.frames_per_block, self.temporal)

    def block_starting_at(self, frame):
        for block in range(1, self.blocks):
            if self.first_pixel_frame(block) == frame:
                return block
        return None


def check_out(args):
    out = args.out
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out {out}: must be an .mp4 file")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: the folder {out.parent} does not exist")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"--out {out} exists; pass --overwrite to replace it")


class Mp4Writer:
    """H.264 frames into `path`, written to a temporary file that replaces `path` only when closed whole."""

    def __init__(self, path: Path, fps: int):
        try:
            import av
        except ImportError as e:
            raise RuntimeError("writing an mp4 needs the av package (PyAV, with its own FFmpeg): pip install av") from e
        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp{os.getpid()}.mp4")
        self.container = av.open(str(self.tmp), mode="w")
        self.stream = None
        self.fps = fps
        self.av = av

    def write(self, frames):
        """[T, H, W, 3] uint8."""
        if self.stream is None:
            height, width = frames.shape[1], frames.shape[2]
            if height % 2 or width % 2:
                raise ValueError(f"H.264 needs even frame sides, the VAE gives {height} x {width}")
            self.stream = self.container.add_stream("libx264", rate=self.fps)
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        for frame in frames.numpy():
            for packet in self.stream.encode(self.av.VideoFrame.from_ndarray(frame, format="rgb24")):
                self.container.mux(packet)

    def close(self):
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def discard(self):
        self.container.close()
        self.tmp.unlink(missing_ok=True)


class Progress:
    def __init__(self, total, quiet):
        self.total, self.quiet, self.start = total, quiet, time.perf_counter()

    def update(self, frames_done):
        if self.quiet:
            return
        width = 30
        filled = width * frames_done // self.total
        rate = frames_done / max(time.perf_counter() - self.start, 1e-9)
        print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {frames_done}/{self.total} frames, {rate:.1f} fps",
              end="", file=sys.stderr, flush=True)

    def finish(self):
        if not self.quiet:
            print(file=sys.stderr)


def run(args):
    from . import _C
    from .wan_text import check_model_dir, encode_prompts, load_text_encoder, load_tokenizer, token_counts
    from .streaming import decoded_blocks
    from .wan_vae import StreamingDecoder, load_vae

    timings = {}
    overrides = list(args.overrides)
    if args.checkpoint:
        overrides.append(f"inference.checkpoint={args.checkpoint}")
    if args.hybrid_checkpoint:
        overrides.append(f"inference.hybrid_checkpoint={args.hybrid_checkpoint}")
    config = _C.load_config(str(args.config), overrides)
    check_out(args)
    check_model_dir(args.model_dir, MODEL_PARTS)
    plan = Plan(args, config)
    tokenizer = load_tokenizer(args.model_dir)
    text_len = config.model["text_len"]
    for i, count in enumerate(token_counts(plan.prompts, tokenizer)):
        if count > text_len:
            raise ValueError(f"--prompt {i + 1} is {count} tokens; the model reads at most {text_len} (model.text_len)")

    t = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder = load_text_encoder(args.model_dir, DTYPES[args.text_dtype], device)
    text, _ = encode_prompts(plan.prompts, tokenizer, encoder, text_len)
    del encoder
    timings["encode prompts"] = time.perf_counter() - t

    t = time.perf_counter()
    dit = _C.WanDiT.from_config(config)
    dit_device = next(iter(dit.state_dict().values())).device
    vae = load_vae(args.model_dir, DTYPES[args.vae_dtype], dit_device)
    text = text.to(dit_device)
    session = _C.Session(dit, text[:1], seed=args.seed, **config.generation)
    decoder = StreamingDecoder(vae)
    timings["load models"] = time.perf_counter() - t

    writer = Mp4Writer(args.out, args.fps)
    progress = Progress(plan.frames, args.quiet)
    generate_s = decode_s = write_s = 0.0
    first_frame_s = None
    frames_done = 0
    t0 = time.perf_counter()
    try:
        for block in decoded_blocks(session, decoder, plan.blocks, text, plan.switch_blocks, args.recache):
            generate_s += block.generate_s
            decode_s += block.decode_s
            if first_frame_s is None:
                first_frame_s = time.perf_counter() - t0
            t = time.perf_counter()
            frames = block.frames[0][: plan.frames - frames_done]
            writer.write(frames)
            write_s += time.perf_counter() - t
            frames_done += frames.shape[0]
            progress.update(frames_done)
        writer.close()
    except BaseException:
        writer.discard()
        raise
    finally:
        progress.finish()
    total = time.perf_counter() - t0
    timings.update({"first decoded frame": first_frame_s, "generate (DiT)": generate_s, "decode (VAE)": decode_s,
                    "write (H.264)": write_s, "blocks, overlapped": total})
    return plan, timings, frames_done, total


def main(argv=None):
    args = parse_args(argv)
    try:
        plan, timings, frames, total = run(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError, ImportError) as e:
        print(f"arl2.video: {e}", file=sys.stderr)
        return 1
    print(f"arl2.video: {frames} frames ({plan.blocks} blocks, {len(plan.prompts)} prompt(s)) -> {args.out}, "
          f"{frames / total:.1f} frames/s")
    for stage, seconds in timings.items():
        print(f"  {stage:<22} {seconds:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
