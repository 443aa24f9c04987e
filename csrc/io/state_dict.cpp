// Loading a state dict by canonical name (see state_dict.h).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "io/state_dict.h"

#include <algorithm>
#include <array>
#include <sstream>

#include <c10/util/Exception.h>

namespace arl2::io {
namespace {

// Module-path components that wrappers insert around a model's modules and that name nothing of the model:
// FSDP's and activation checkpointing's (torch.distributed's checkpoint_wrapper).
constexpr std::array<std::string_view, 2> kWrapperComponents = {"_fsdp_wrapped_module", "_checkpoint_wrapped_module"};
// The leading component of Self Forcing / Causal Forcing / CausVid checkpoints (their DiT is a wrapper's `model`).
constexpr std::string_view kModelComponent = "model";
// The authors' FFN adapter wraps the linear it adapts as a child of this name: their `ffn.0.linear.weight` is Wan's
// `ffn.0.weight`, next to the adapter's `ffn.0.lora_A`.
constexpr std::string_view kFfnComponent = "ffn";
constexpr std::string_view kAdaptedLinearComponent = "linear";

bool is_wrapper(std::string_view component) {
  return std::find(kWrapperComponents.begin(), kWrapperComponents.end(), component) != kWrapperComponents.end();
}

bool is_index(std::string_view component) {
  return !component.empty() &&
         std::all_of(component.begin(), component.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `kept` ends with `ffn.<i>`, so `component` is the authors' adapted linear of an FFN.
bool is_adapted_ffn_linear(const std::vector<std::string_view>& kept, std::string_view component) {
  return component == kAdaptedLinearComponent && kept.size() >= 2 && kept[kept.size() - 2] == kFfnComponent &&
         is_index(kept.back());
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return s + "]";
}

void describe_kind(std::ostringstream& os, const char* kind, const std::vector<std::string>& names) {
  if (names.empty()) {
    return;
  }
  os << "\n  " << names.size() << " " << kind << ":";
  for (size_t i = 0; i < names.size() && i < 20; ++i) {
    os << "\n    " << names[i];
  }
  if (names.size() > 20) {
    os << "\n    ... and " << names.size() - 20 << " more";
  }
}

} // namespace

std::string canonical_key(std::string_view name) {
  std::vector<std::string_view> kept;
  size_t pos = 0;
  while (true) {
    const size_t dot = name.find('.', pos);
    const bool leaf = dot == std::string_view::npos; // a parameter's own name is never dropped
    const auto component = name.substr(pos, leaf ? std::string_view::npos : dot - pos);
    if (leaf || (!is_wrapper(component) && !is_adapted_ffn_linear(kept, component))) {
      kept.push_back(component);
    }
    if (leaf) {
      break;
    }
    pos = dot + 1;
  }
  // After the wrappers are gone, so `_fsdp_wrapped_module.model.` goes as `model._fsdp_wrapped_module.` does.
  const size_t first = kept.size() > 1 && kept.front() == kModelComponent ? 1 : 0;
  std::string out;
  for (size_t i = first; i < kept.size(); ++i) {
    out.append(i > first ? "." : "").append(kept[i]);
  }
  return out;
}

std::string StateDictReport::describe() const {
  std::ostringstream os;
  describe_kind(os, "missing", missing);
  describe_kind(os, "unexpected", unexpected);
  describe_kind(os, "mis-shaped", mis_shaped);
  return os.str();
}

std::map<std::string, at::Tensor> load_state_dict(
    const SafetensorsFile& file, const ShapeMap& expected, StateDictReport* report) {
  std::map<std::string, std::string> by_canonical; // canonical name -> name in the file
  for (const auto& name : file.keys()) {
    const auto [it, inserted] = by_canonical.emplace(canonical_key(name), name);
    TORCH_CHECK(inserted, file.path(), ": tensors '", it->second, "' and '", name, "' both load as '", it->first, "'");
  }
  StateDictReport local;
  StateDictReport& r = report != nullptr ? *report : local;
  r = {};
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, shape] : expected) {
    const auto it = by_canonical.find(name);
    if (it == by_canonical.end()) {
      r.missing.push_back(name);
      continue;
    }
    const auto& got = file.info(it->second).shape;
    if (got != shape) {
      r.mis_shaped.push_back(name + ": expected " + shape_text(shape) + ", got " + shape_text(got));
      continue;
    }
    tensors.emplace(name, file.tensor(it->second));
  }
  for (const auto& [canonical, name] : by_canonical) {
    if (expected.count(canonical) == 0) {
      r.unexpected.push_back(name);
    }
  }
  TORCH_CHECK(report != nullptr || r.ok(), file.path(), ": the state dict does not match the model:", r.describe());
  return tensors;
}

} // namespace arl2::io
