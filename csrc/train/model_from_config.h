// The model an inference config describes, as `arl2 generate`, `arl2 eval` and Python's
// WanDiT.from_config build it: the teacher from
// inference.checkpoint, converted when the config has a hybrid section, with the hybrid's trained weights from
// inference.hybrid_checkpoint (a weights file as `arl2 export` writes, or a training checkpoint over its base), the
// FFN adapters merged as in an exported file (model::merge_ffn_lora).
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/TensorBody.h>

#include "config/config.h"
#include "io/output_paths.h"
#include "model/wan_dit.h"
#include "train/trained_hybrid.h"

namespace arl2::train {

// On the meta device, builds the structure alone (no file is read): for checking a request before any work.
std::shared_ptr<model::WanDiT> model_from_config(
    const config::Config& config, const at::TensorOptions& options, TrainedWeights trained = TrainedWeights::kRaw);

// The weights files model_from_config reads, by key: inference.checkpoint and inference.hybrid_checkpoint ("" when
// unset).
std::vector<io::NamedPath> weights_files(const config::Config& config);

} // namespace arl2::train
