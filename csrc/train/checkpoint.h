// Training checkpoints: everything a run needs to continue exactly where it stopped, in one safetensors
// file written atomically (temporary file, fsync, rename): the trainable parameters, AdamW's moments and
// step counts, the EMA, the RNG state, the step, the data position, the stage, the config's hash and the
// base weights it was trained from. Frozen base parameters are not in it: a hybrid checkpoint refers to its
// base by path and fingerprint (io/file_fingerprint.h), and every load checks the fingerprint. A stage-0
// checkpoint trains every parameter, so it holds the whole model and names no base.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

#include "io/safetensors.h"
#include "train/ema.h"
#include "train/sampler.h"

namespace arl2::train {

struct CheckpointState {
  int64_t step = 0; // optimizer steps done
  SamplerPosition data;
  std::string config_hash;
  std::string base_weights;     // the base model's weights file, "" for random weights and in stage 0
  std::string base_fingerprint; // train/teacher.h's base_fingerprint of those weights, "" in stage 0
  int64_t stage = 1;            // train.stage of the run that wrote it
};

// Which of a checkpoint's parameter sets to use: the trained values or their EMA.
enum class TrainedWeights { kRaw, kEma };

// The prefix of that set's tensor names in a checkpoint: "param." or "ema.".
std::string checkpoint_prefix(TrainedWeights weights);

// The state in a checkpoint's metadata. Throws naming the file when it is not a training checkpoint.
CheckpointState read_checkpoint_state(const io::SafetensorsFile& file);

// Whether `file` is a training checkpoint (rather than a model's weights).
bool is_training_checkpoint(const io::SafetensorsFile& file);

// Throws unless `fingerprint` (of the base weights at `base_path`, "" for random weights) is the one
// `state` recorded; the message names the checkpoint, the weights it was trained on and `base_path`.
void check_base_weights(
    const std::string& checkpoint,
    const CheckpointState& state,
    const std::string& base_path,
    const std::string& fingerprint);

// The tensors a checkpoint holds besides the RNG state, by their names in it, where they are (not copied): the
// trainable parameters, AdamW's moments and step counts, the EMA.
std::vector<std::pair<std::string, at::Tensor>> checkpoint_tensors(
    const std::vector<std::pair<std::string, at::Tensor>>& trainable,
    const torch::optim::AdamW& optimizer,
    const Ema& ema);

// The name of the first of `tensors` that holds a NaN or an infinity; "" when every value is finite.
std::string first_non_finite(const std::vector<std::pair<std::string, at::Tensor>>& tensors);

void save_checkpoint(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& trainable,
    const torch::optim::AdamW& optimizer,
    const Ema& ema,
    const CheckpointState& state,
    const at::Generator& rng);

// Copies the checkpoint into `trainable`, `optimizer`, `ema` and `rng` (made as for a fresh run) and
// returns its state. Throws naming the file and the key when a parameter is missing, extra or
// mis-shaped, and when the checkpoint's config hash is not `expected_config_hash` (unless that is "").
CheckpointState load_checkpoint(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& trainable,
    torch::optim::AdamW& optimizer,
    Ema& ema,
    at::Generator& rng,
    const std::string& expected_config_hash);

} // namespace arl2::train
