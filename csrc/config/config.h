// A run's configuration, read from YAML into plain structs, one per section:
//
//   model:             # the DiT: a preset, then any ModelConfig field overriding it
//     preset: wan2.1-t2v-1.3b
//   hybrid:            # optional: which layers become hybrid (layers, or ratio + policy), and LoRA
//     ratio: 0.75
//     policy: first
//     lora: true
//
// Unknown sections or keys and values of the wrong type are errors naming the key path and the line.
#pragma once

#include <optional>
#include <string>

#include "model/config.h"
#include "model/conversion.h"

namespace arl2::config {

struct Config {
  model::ModelConfig model;                   // validated
  std::optional<model::HybridOptions> hybrid; // absent: the plain (teacher) model
};

// Reads and validates `path`; every error names the file.
Config load_config(const std::string& path);

// The same from YAML text; `source` names it in errors.
Config parse_config(const std::string& yaml, const std::string& source);

} // namespace arl2::config
