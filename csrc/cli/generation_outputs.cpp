// write_latents and write_file_atomically (see generation_outputs.h).
#include "generation_outputs.h"

#include <cstdio>
#include <fstream>

#include <unistd.h>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "io/safetensors.h"

namespace arl2::cli {

std::string write_latents(
    const std::string& dir, const at::Tensor& latents, const std::map<std::string, std::string>& metadata) {
  const auto path = dir + "/latents.safetensors";
  const auto frames_major = latents.permute({0, 2, 1, 3, 4}).to(at::kCPU, at::kFloat).contiguous();
  io::save_safetensors(path, {{"latents", frames_major}}, metadata);
  return path;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const auto tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    TORCH_CHECK(out.good(), "cannot write '", tmp, "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    TORCH_CHECK(false, "cannot rename '", tmp, "' to '", path, "'");
  }
}

} // namespace arl2::cli
