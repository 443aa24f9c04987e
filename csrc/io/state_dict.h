// Loads a model's state dict from a safetensors file by canonical name: the `model.` prefix of
// Self Forcing / Causal Forcing / CausVid checkpoints, every `_fsdp_wrapped_module.` and
// `_checkpoint_wrapped_module.` segment that FSDP and activation checkpointing insert, and the `linear.` of the
// ARL2 authors' FFN adapters (`ffn.0.linear.weight`) are dropped, so their files and Wan's own load alike.
// Mismatches are reported by name.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/safetensors.h"

namespace arl2::io {

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

// `name` without its wrapper segments, the leading `model.` and the `linear.` after `ffn.<i>.`: the one table
// of the names other projects' checkpoints use for this model's parameters.
std::string canonical_key(std::string_view name);

struct StateDictReport {
  std::vector<std::string> missing;    // expected, not in the file
  std::vector<std::string> unexpected; // in the file, not expected
  std::vector<std::string> mis_shaped; // "name: expected [..], got [..]"
  bool ok() const {
    return missing.empty() && unexpected.empty() && mis_shaped.empty();
  }
  std::string describe() const; // one line per problem, at most 20 names per kind
};

// The file's tensors (each read into memory, SafetensorsFile::tensor) by canonical name, checked against
// `expected` names and shapes.
// Throws c10::Error naming the file and every mismatch unless all match; `report`, when given,
// receives the comparison instead and the matching tensors are returned.
std::map<std::string, at::Tensor> load_state_dict(
    const SafetensorsFile& file, const ShapeMap& expected, StateDictReport* report = nullptr);

} // namespace arl2::io
