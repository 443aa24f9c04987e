"""A session's blocks as decoded frames, as they come: the DiT makes block i+1 while the VAE decodes block i.

The session runs in a worker thread: its C++ work releases the GIL, and on CUDA it runs on a stream of its own, so
the two overlap on the device too. The caller gets each block's frames on the CPU, ready to show or encode."""
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch


@dataclass
class DecodedBlock:
    index: int
    latents: torch.Tensor  # [B, C, frames_per_block, H, W] on the model's device
    frames: torch.Tensor  # [B, T, H', W', 3] uint8 on the CPU
    generate_s: float  # the block's time in the session, prompt switch included
    decode_s: float  # its time in the VAE, the copy to the CPU included


def decoded_blocks(session, decoder, blocks, prompts=None, switches=None, recache=False):
    """Yields `blocks` DecodedBlocks of `session` (an arl2._C.Session) decoded by `decoder`
    (arl2.wan_vae.StreamingDecoder). `switches` maps a block index to a row of `prompts` [P, L, D] that takes over
    from that block on (Session.set_prompt, with `recache`)."""
    switches = switches or {}
    device = session.prompt.device
    side = torch.cuda.Stream(device=device) if device.type == "cuda" else None

    def make(index):
        start = time.perf_counter()
        if index in switches:
            p = switches[index]
            session.set_prompt(prompts[p:p + 1], recache)
        if side is None:
            latents = next(session)
        else:
            with torch.cuda.stream(side):
                latents = next(session)
            side.synchronize()
        return latents, time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(make, 0)
        for index in range(blocks):
            latents, generate_s = pending.result()
            if side is not None:  # made on the side stream, read on this one
                latents.record_stream(torch.cuda.current_stream(device))
            if index + 1 < blocks:
                pending = pool.submit(make, index + 1)
            start = time.perf_counter()
            frames = decoder.decode(latents).cpu()
            yield DecodedBlock(index, latents, frames, generate_s, time.perf_counter() - start)
