// What `arl2 generate` leaves in its output folder: latents.safetensors (`latents` [B, F, C, H, W]
// float32, the layout scripts/decode_latents.py reads), metrics.json and, for a model in pixel space (the toy
// domain's), each video as a PNG contact sheet; each written atomically so that a reader never sees half a file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace arl2::cli {

// `dir`/latents.safetensors.
std::string latents_path(const std::string& dir);

// `latents` in the model's layout [B, C, F, H, W], written as float32 [B, F, C, H, W] to
// latents_path(`dir`) with `metadata`; returns the file's path.
std::string write_latents(
    const std::string& dir, const at::Tensor& latents, const std::map<std::string, std::string>& metadata);

// Frames [F, 3, H, W] of RGB in [-1, 1] as one uint8 image [rows * (H + 1) * scale, per_row * (W + 1) * scale,
// 3]: `per_row` frames a row, each followed by a mid-grey column and row, the last row filled with grey; scaled
// up `scale` times (nearest neighbour) to be seen.
at::Tensor contact_sheet(const at::Tensor& frames, int64_t per_row, int64_t scale);

// Pixel videos [B, 3, F, H, W] as `dir`/video_<b>.png, 16 frames a row, at least 64 pixels a frame; returns
// the paths.
std::vector<std::string> write_video_sheets(const std::string& dir, const at::Tensor& pixels);

} // namespace arl2::cli
