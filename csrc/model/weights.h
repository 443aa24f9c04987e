// A module's parameters to and from safetensors files, by the names named_parameters() gives (for
// WanDiT: Wan's state-dict names). Loading goes through io::load_state_dict, so checkpoints with
// `model.` or FSDP prefixes load too and every mismatch is reported by name.
#pragma once

#include <string>

#include <torch/nn/module.h>

#include "io/state_dict.h"

namespace arl2::model {

// Name -> shape of every parameter; works on the meta device.
io::ShapeMap parameter_shapes(const torch::nn::Module& module);

// Copies the file's tensors into the parameters (converting floating dtypes). Throws c10::Error
// naming the file and each missing, unexpected or mis-shaped key, or the offending parameter.
void load_weights(torch::nn::Module& module, const std::string& path);

// Writes every parameter, by name, atomically.
void save_weights(const torch::nn::Module& module, const std::string& path);

} // namespace arl2::model
