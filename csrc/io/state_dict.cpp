// Loading a state dict by canonical name (see state_dict.h).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "io/state_dict.h"

#include <sstream>

#include <c10/util/Exception.h>

namespace arl2::io {
namespace {

constexpr std::string_view kModelPrefix = "model.";
constexpr std::string_view kFsdpSegment = "_fsdp_wrapped_module.";

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
  std::string out;
  if (name.substr(0, kModelPrefix.size()) == kModelPrefix) {
    name.remove_prefix(kModelPrefix.size());
  }
  // FSDP puts its segment at the start of any module path component: drop each occurrence that
  // begins a component.
  size_t pos = 0;
  while (pos <= name.size()) {
    if (name.substr(pos, kFsdpSegment.size()) == kFsdpSegment) {
      pos += kFsdpSegment.size();
      continue;
    }
    const size_t dot = name.find('.', pos);
    const size_t end = dot == std::string_view::npos ? name.size() : dot + 1;
    out.append(name.substr(pos, end - pos));
    if (dot == std::string_view::npos) {
      break;
    }
    pos = end;
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
