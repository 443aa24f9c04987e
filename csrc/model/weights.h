// A module's parameters to and from safetensors files, by the names named_parameters() gives (for
// WanDiT: Wan's state-dict names). Loading goes through io::load_state_dict, so checkpoints with
// `model.` or FSDP prefixes load too and every mismatch is reported by name.
#pragma once

#include <optional>
#include <string>

#include <ATen/core/Generator.h>

#include <torch/nn/module.h>

#include "io/state_dict.h"

namespace arl2::model {

// Name -> shape of every parameter; works on the meta device.
io::ShapeMap parameter_shapes(const torch::nn::Module& module);

// Copies the file's tensors into the parameters (converting floating dtypes). Throws c10::Error
// naming the file and each missing, unexpected or mis-shaped key, or the offending parameter.
void load_weights(torch::nn::Module& module, const std::string& path);

// A cheap identity of the parameters' values, as io::file_fingerprint is of a file: FNV-1a of every parameter's
// name, dtype and shape and of up to 256 evenly spaced elements of each, whose bytes do not depend on the device.
// Other weights of one architecture differ in nearly every element, so they are told apart; what it can miss is an
// edit to a few elements. "w1:<16 hex digits>".
std::string weights_fingerprint(const torch::nn::Module& module);

// Writes every parameter, by name, atomically.
void save_weights(const torch::nn::Module& module, const std::string& path);

// Draws every parameter from N(0, 1 / fan_in) (fan_in: the elements of one output row; 16 for vectors)
// with `generator` (or the default one): random weights of a trained model's scale, under which every
// path shows in the output. Wan's own initialisation zeroes the output head, so a model built without
// weights predicts zeros and distilling it would teach nothing; benchmarks and smoke runs use this.
void draw_random_weights(torch::nn::Module& module, std::optional<at::Generator> generator = std::nullopt);

} // namespace arl2::model
