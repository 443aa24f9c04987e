// What `arl2 generate` leaves in its output folder: latents.safetensors (`latents` [B, F, C, H, W]
// float32, the layout scripts/decode_latents.py reads) and metrics.json, each written atomically so
// that a reader never sees half a file.
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace arl2::cli {

// `latents` in the model's layout [B, C, F, H, W], written as float32 [B, F, C, H, W] to
// `dir`/latents.safetensors with `metadata`; returns the file's path.
std::string write_latents(
    const std::string& dir, const at::Tensor& latents, const std::map<std::string, std::string>& metadata);

// `text` to `path` through a temporary file renamed over it.
void write_file_atomically(const std::string& path, const std::string& text);

} // namespace arl2::cli
