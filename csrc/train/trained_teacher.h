// `arl2 export` of a stage-0 run: its checkpoint holds the whole model (every parameter trained), so the
// export is that model alone, a plain weights file by Wan's names, which inference.checkpoint loads as the
// teacher of stages 1 and 2 and of generation.
#pragma once

#include <string>

#include "config/config.h"
#include "train/checkpoint.h"

namespace arl2::train {

// Writes the `weights` set of stage-0 `checkpoint` as `config`'s model to `out`, atomically
// (model::save_weights), in float32 (float64 for a float64 run). Throws naming the file unless it is a
// stage-0 checkpoint of this model: every parameter present with its shape, none extra.
void export_teacher(
    const config::Config& config, const std::string& checkpoint, TrainedWeights weights, const std::string& out);

} // namespace arl2::train
