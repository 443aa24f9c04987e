// The model an inference config describes, as `arl2 generate` and `arl2 eval` build it: the teacher from
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

namespace arl2::cli {

// On the meta device, builds the structure alone (no file is read): for checking a request before any work.
std::shared_ptr<model::WanDiT> build_model(
    const config::Config& config,
    const at::TensorOptions& options,
    train::TrainedWeights trained = train::TrainedWeights::kRaw);

// The weights files build_model reads, by key: inference.checkpoint and inference.hybrid_checkpoint ("" when unset).
std::vector<io::NamedPath> weights_files(const config::Config& config);

} // namespace arl2::cli
