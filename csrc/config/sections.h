// The readers of the config file's sections whose values have relations to check (config.h); each reads its field
// table through read_fields (yaml_map.h) first. The inference and data sections are their tables alone.
#pragma once

#include "config/config.h"
#include "config/yaml_map.h"
#include "model/config.h"
#include "model/conversion.h"

namespace arl2::config {

// `preset` (default wan2.1-t2v-1.3b), then any ModelConfig field; not yet validated.
model::ModelConfig read_model_section(const YamlMap& section);

// `layers` or `ratio` with `policy`, and LoRA: ffn_lora_all_layers only with lora.
model::HybridOptions read_hybrid_section(const YamlMap& section);

// The stage, optimizer, schedule, precision and run folder: each stage's options only under it, warmup within
// the steps, a run folder named.
TrainConfig read_train_section(const YamlMap& section);

} // namespace arl2::config
