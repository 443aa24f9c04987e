// What `arl2 generate` and `arl2 rollout` both take in and check before any work: the prompts' text
// embeddings and the configured device.
#pragma once

#include <string>

#include <ATen/core/TensorBody.h>

#include "io/safetensors.h"

namespace arl2::cli {

// The file at `path` (--prompts), which must hold `text_embeddings` [N, L, D] (scripts/encode_prompts.py);
// throws naming --prompts and the file otherwise.
io::SafetensorsFile open_prompts(const std::string& path);

// Throws, naming `config_path` and inference.device, when `device` is CUDA and none is available.
void check_inference_device(const std::string& device, const std::string& config_path);

} // namespace arl2::cli
