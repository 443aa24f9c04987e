"""Wan's causal video VAE (diffusers' AutoencoderKLWan) from a Wan2.1 folder in the diffusers layout (`vae/`):
normalised latents as the DiT makes them to RGB frames, all at once or block by block.

The VAE decodes one latent frame at a time, each convolution carrying the last frames of its input in a feature
cache; `StreamingDecoder` keeps that cache from block to block, so the frames of a video decoded as its blocks come
equal the frames of the whole video decoded at once. Latent frame 0 gives one pixel frame, every later one
`scale_factor_temporal` (4 for Wan)."""
from pathlib import Path

import torch

from .wan_text import check_model_dir


def load_vae(model_dir: Path, dtype, device):
    try:
        from diffusers import AutoencoderKLWan
    except ImportError as e:
        raise RuntimeError("Wan's VAE needs the diffusers package: pip install diffusers") from e
    check_model_dir(model_dir, ("vae",))
    return AutoencoderKLWan.from_pretrained(Path(model_dir) / "vae", dtype=dtype).to(device).eval()


def pixel_frames(latent_frames: int, scale_factor_temporal: int = 4) -> int:
    """Pixel frames of `latent_frames` latent frames (the VAE config's scale_factor_temporal: 4 for Wan)."""
    return 0 if latent_frames == 0 else 1 + scale_factor_temporal * (latent_frames - 1)


def _unnormalise(vae, z):
    """[B, C, F, H, W] normalised latents (as Self Forcing stores them) -> the VAE's latent scale, in its dtype."""
    param = next(vae.parameters())
    z = z.to(param.device, torch.float32)
    mean = torch.tensor(vae.config.latents_mean, device=z.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=z.device).view(1, -1, 1, 1, 1)
    return (z * std + mean).to(param.dtype)


def _to_uint8(video):
    """[B, 3, T, H, W] in [-1, 1] -> [B, T, H, W, 3] uint8."""
    video = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return video.permute(0, 2, 3, 4, 1)


@torch.no_grad()
def decode(vae, latents):
    """[B, C, F, H, W] normalised latents -> [B, T, H', W', 3] uint8 frames, the whole video at once."""
    return _to_uint8(vae.decode(_unnormalise(vae, latents)).sample)


class StreamingDecoder:
    """Decodes a video's latents block by block, carrying the VAE's feature cache between blocks."""

    def __init__(self, vae):
        from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

        if vae.config.patch_size is not None:
            raise ValueError("StreamingDecoder: a VAE with patch_size (Wan2.2's) is not supported")
        self.vae = vae
        self.cache = [None] * sum(isinstance(m, WanCausalConv3d) for m in vae.decoder.modules())
        self.latent_frames = 0

    @torch.no_grad()
    def decode(self, latents):
        """The next latent frames [B, C, f, H, W] (normalised) -> their pixel frames [B, T, H', W', 3] uint8."""
        x = self.vae.post_quant_conv(_unnormalise(self.vae, latents))  # a 1x1x1 convolution: no cache
        frames = []
        for i in range(x.shape[2]):
            frames.append(self.vae.decoder(x[:, :, i:i + 1], feat_cache=self.cache, feat_idx=[0],
                                           first_chunk=self.latent_frames == 0))
            self.latent_frames += 1
        return _to_uint8(torch.cat(frames, 2))
