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

// The sampler, block and latent sizes, KV window, dtype, device and checkpoints; the schedule's values
// are checked by the generator.
InferenceConfig read_inference_section(const YamlMap& section);

// The stage, optimizer, schedule, precision and run folder; values are checked where they are used
// (train/lr_schedule.h, train/ema.h, train/trainer.h), each error naming its key.
TrainConfig read_train_section(const YamlMap& section);

// `path`, the folder of shards.
DataConfig read_data_section(const YamlMap& section);

} // namespace arl2::config
