// One reader per section of a config file (config.h); each checks its keys and types through YamlMap.
#pragma once

#include "config/config.h"
#include "config/yaml_map.h"
#include "model/config.h"
#include "model/conversion.h"

namespace arl2::config {

// `preset` (default wan2.1-t2v-1.3b), then any ModelConfig field; not yet validated.
model::ModelConfig read_model_section(const YamlMap& section);

// `layers` or `ratio` with `policy`; `lora`, `lora_rank`, `lora_alpha`.
model::HybridOptions read_hybrid_section(const YamlMap& section);

// The sampler, block and latent sizes, KV window, dtype, device and checkpoints; relations between values
// (a window that holds a block, latent sizes that are whole patches) are checked by the generator.
InferenceConfig read_inference_section(const YamlMap& section);

// The stage, optimizer (AdamW's ranges, as PyTorch checks them), schedule, precision and run folder.
TrainConfig read_train_section(const YamlMap& section);

// `path`, the folder of shards.
DataConfig read_data_section(const YamlMap& section);

} // namespace arl2::config
