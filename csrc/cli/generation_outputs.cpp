// latents_path, write_latents, contact_sheet and write_video_sheets (see generation_outputs.h).
#include "generation_outputs.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "io/atomic_file.h"
#include "io/png.h"
#include "io/safetensors.h"

namespace arl2::cli {

std::string latents_path(const std::string& dir) {
  return dir + "/latents.safetensors";
}

std::string write_latents(
    const std::string& dir, const at::Tensor& latents, const std::map<std::string, std::string>& metadata) {
  const auto path = latents_path(dir);
  const auto frames_major = latents.permute({0, 2, 1, 3, 4}).to(at::kCPU, at::kFloat).contiguous();
  io::save_safetensors(path, {{"latents", frames_major}}, metadata);
  return path;
}

at::Tensor contact_sheet(const at::Tensor& frames, int64_t per_row, int64_t scale) {
  TORCH_CHECK(
      frames.dim() == 4 && frames.size(1) == 3, "contact_sheet: expected frames [F, 3, H, W], got ", frames.sizes());
  const int64_t F = frames.size(0), rows = (F + per_row - 1) / per_row;
  const auto padded =
      at::constant_pad_nd(frames.to(at::kCPU, at::kFloat), {0, 1, 0, 1, 0, 0, 0, rows * per_row - F}, 0.0);
  const auto rgb = padded.add(1).mul_(127.5).round_().clamp_(0, 255).to(at::kByte);
  const int64_t H = rgb.size(2), W = rgb.size(3);
  // [rows * per_row, 3, H, W] -> [rows, H, per_row, W, 3] -> [rows * H, per_row * W, 3]
  const auto sheet = rgb.view({rows, per_row, 3, H, W}).permute({0, 3, 1, 4, 2}).reshape({rows * H, per_row * W, 3});
  return sheet.repeat_interleave(scale, 0).repeat_interleave(scale, 1).contiguous();
}

std::vector<std::string> write_video_sheets(const std::string& dir, const at::Tensor& pixels) {
  constexpr int64_t kFramesPerRow = 16, kMinFramePixels = 64;
  const int64_t scale = std::max<int64_t>(1, kMinFramePixels / pixels.size(-1));
  std::vector<std::string> paths;
  for (int64_t b = 0; b < pixels.size(0); ++b) {
    paths.push_back(dir + "/video_" + std::to_string(b) + ".png");
    io::write_file_atomically(
        paths.back(), io::encode_png(contact_sheet(pixels[b].transpose(0, 1), kFramesPerRow, scale)));
  }
  return paths;
}

} // namespace arl2::cli
