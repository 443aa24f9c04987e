// A run's configuration, read from YAML into plain structs, one per section:
//
//   model:             # the DiT: a preset, then any ModelConfig field overriding it
//     preset: wan2.1-t2v-1.3b
//   hybrid:            # optional: which layers become hybrid (layers, or ratio + policy), and LoRA
//     ratio: 0.75
//     policy: first
//     lora: true
//   inference:         # optional: how `arl2 generate` runs (defaults: Self Forcing's sampler, bf16 on CUDA)
//     frames_per_block: 3
//     device: cuda
//
// Unknown sections or keys and values of the wrong type are errors naming the key path and the line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "inference/generator_options.h"
#include "model/config.h"
#include "model/conversion.h"

namespace arl2::config {

struct InferenceConfig {
  inference::GeneratorOptions generator;
  std::string dtype = "bfloat16"; // float32, float64 or bfloat16
  std::string device = "cuda";
  std::string checkpoint;        // the teacher's weights (Wan names), loaded before conversion; empty: random
  std::string hybrid_checkpoint; // the converted model's weights (as save_weights writes them), loaded after
};

struct Config {
  model::ModelConfig model;                   // validated
  std::optional<model::HybridOptions> hybrid; // absent: the plain (teacher) model
  InferenceConfig inference;
};

// Reads and validates `path`; every error names the file. `overrides` ("inference.seed=3", the
// command line's --set) replace or add values at a dotted key path before the file is read, as YAML.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from YAML text; `source` names it in errors.
Config parse_config(const std::string& yaml, const std::string& source, const std::vector<std::string>& overrides = {});

} // namespace arl2::config
