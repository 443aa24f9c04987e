// open_prompts and check_inference_device (see generation_inputs.h).
#include "generation_inputs.h"

#include <unistd.h>

#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include "io/value_checks.h"

namespace arl2::cli {

io::SafetensorsFile open_prompts(const std::string& path) {
  TORCH_CHECK(access(path.c_str(), F_OK) == 0, "--prompts: '", path, "' does not exist");
  io::SafetensorsFile prompts(path);
  TORCH_CHECK(
      prompts.contains("text_embeddings"),
      "--prompts: '",
      path,
      "' holds no 'text_embeddings' tensor (write it with scripts/encode_prompts.py)");
  const auto& shape = prompts.info("text_embeddings").shape;
  TORCH_CHECK(
      shape.size() == 3 && shape[0] > 0,
      "--prompts: '",
      path,
      "': 'text_embeddings' must be [N, L, D] with N >= 1, got ",
      at::IntArrayRef(shape));
  io::check_finite_floats(prompts.tensor("text_embeddings"), "--prompts: " + path, "text_embeddings");
  return prompts;
}

void check_inference_device(const std::string& device, const std::string& config_path) {
  TORCH_CHECK(
      !at::Device(device).is_cuda() || torch::cuda::is_available(),
      config_path,
      ": inference.device is ",
      device,
      " but no CUDA device is available (set inference.device: cpu)");
}

} // namespace arl2::cli
