// A trained hybrid from a training checkpoint, which holds only the new parameters: the base weights it
// names (checked by fingerprint), converted as the run did, with the checkpoint's parameters in place;
// and `arl2 export`'s merge of such a hybrid into one weights file that needs no base.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/TensorBody.h>

#include "config/config.h"
#include "model/conversion.h"
#include "model/wan_dit.h"
#include "train/checkpoint.h"

namespace arl2::train {

// The base of `config` (make_teacher: inference.checkpoint or, when that is empty, the base path the
// checkpoint recorded; random weights from train.seed when both are empty) in `options`, converted by
// `hybrid`, with the trained parameters of `checkpoint` copied in. Throws naming the files when the base
// is not the one the checkpoint was trained on, and naming the parameter when one of the hybrid's is
// missing from the checkpoint or mis-shaped, or the checkpoint holds one the hybrid lacks.
std::shared_ptr<model::WanDiT> load_trained_hybrid(
    const config::Config& config,
    const model::HybridOptions& hybrid,
    const std::string& checkpoint,
    TrainedWeights weights,
    const at::TensorOptions& options);

// Writes the hybrid of a stage's `checkpoint` (built as the run built its student: student_hybrid_options)
// to `out` as one weights file, atomically, by the names save_weights gives: the LoRA of each FFN linear
// merged into its weight (W + alpha / rank * (A B)^T, summed in float64) and removed (model::merge_ffn_lora),
// so the file loads into the same hybrid config once its FFN adapters are merged too, as
// train::model_from_config does; the memory path's q/k/v adapters stay as they are (the softmax branch shares q/k/v unadapted, so they
// cannot merge into them). Built on the CPU in float32 (float64 for a float64 run): merged into bfloat16
// weights, most of a LoRA update would round away.
void export_merged(
    const config::Config& config, const std::string& checkpoint, TrainedWeights weights, const std::string& out);

} // namespace arl2::train
