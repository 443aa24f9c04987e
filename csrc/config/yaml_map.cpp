// YamlMap (see yaml_map.h).
#include "config/yaml_map.h"

#include <map>
#include <type_traits>

#include <c10/util/Exception.h>

namespace arl2::config {
namespace {

// How an error shows what a node holds: a scalar quoted, anything else by its kind.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "\"" + node.Scalar() + "\"";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

// `node` as a T, or the error naming `path` and `expected`.
template <typename T>
T scalar_as(const YAML::Node& node, const std::string& path, const char* expected) {
  if (node.IsScalar()) {
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      // falls through to the error below
    }
  }
  fail_at(node, path, std::string("expected ") + expected + ", got " + describe(node));
}

// `node` as a number in `range`, or the error naming `path`.
template <typename T, typename Range>
T in_range(const YAML::Node& node, const std::string& path, const Range& range) {
  const auto x = scalar_as<T>(node, path, std::is_integral_v<T> ? "an integer" : "a number");
  if (!io::contains(range, x)) {
    fail_at(node, path, "expected " + io::describe(range) + ", got " + node.Scalar());
  }
  return x;
}

} // namespace

void fail_at(const YAML::Node& node, const std::string& path, const std::string& what) {
  // Values set on the command line (config.h's overrides) have no place in the file.
  if (node.Mark().is_null()) {
    TORCH_CHECK(false, path, ": ", what, " (set on the command line)");
  }
  TORCH_CHECK(false, path, ": ", what, " (line ", node.Mark().line + 1, ")");
}

YamlMap::YamlMap(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
  if (!node_.IsMap()) {
    fail_at(node_, path_, "expected a mapping of keys to values, got " + describe(node_));
  }
  // yaml-cpp keeps the first of two equal keys and drops the second without a word.
  std::map<std::string, YAML::Mark> seen;
  for (const auto& entry : node_) {
    const auto [first, inserted] = seen.emplace(entry.first.Scalar(), entry.first.Mark());
    if (!inserted) {
      fail_at(
          entry.first,
          key_path(entry.first.Scalar()),
          "given twice (first at line " + std::to_string(first->second.line + 1) + ")");
    }
  }
}

void YamlMap::check_keys(const std::vector<std::string>& known) const {
  for (const auto& entry : node_) {
    const auto key = entry.first.Scalar();
    bool found = false;
    for (const auto& k : known) {
      found = found || k == key;
    }
    if (!found) {
      std::string names;
      for (const auto& k : known) {
        names += (names.empty() ? "" : ", ") + k;
      }
      fail_at(entry.first, key_path(key), "unknown key; known keys: " + names);
    }
  }
}

bool YamlMap::has(const std::string& key) const {
  return static_cast<bool>(node_[key]);
}

YAML::Node YamlMap::value(const std::string& key) const {
  const auto v = node_[key];
  if (!v) {
    fail_at(node_, key_path(key), "missing");
  }
  return v;
}

std::string YamlMap::key_path(const std::string& key) const {
  return path_ + "." + key;
}

int64_t YamlMap::integer(const std::string& key, io::IntRange range) const {
  return in_range<int64_t>(value(key), key_path(key), range);
}

double YamlMap::number(const std::string& key, io::NumberRange range) const {
  return in_range<double>(value(key), key_path(key), range);
}

bool YamlMap::boolean(const std::string& key) const {
  return scalar_as<bool>(value(key), key_path(key), "true or false");
}

std::string YamlMap::string(const std::string& key) const {
  return scalar_as<std::string>(value(key), key_path(key), "a string");
}

std::string YamlMap::choice(const std::string& key, const std::vector<std::string>& known) const {
  const auto s = string(key);
  std::string names;
  for (const auto& k : known) {
    if (k == s) {
      return s;
    }
    names += (names.empty() ? "" : ", ") + k;
  }
  fail_at(value(key), key_path(key), "expected one of " + names + ", got \"" + s + "\"");
}

void YamlMap::fail(const std::string& key, const std::string& what) const {
  fail_at(value(key), key_path(key), what);
}

std::vector<int64_t> YamlMap::integers(const std::string& key, io::IntRange range) const {
  const auto v = value(key);
  if (!v.IsSequence()) {
    fail_at(v, key_path(key), "expected a list of integers, got " + describe(v));
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) {
    out.push_back(in_range<int64_t>(v[i], key_path(key) + "[" + std::to_string(i) + "]", range));
  }
  return out;
}

std::array<int64_t, 3> YamlMap::integer_triple(const std::string& key, io::IntRange range) const {
  const auto values = integers(key, range);
  if (values.size() != 3) {
    fail_at(value(key), key_path(key), "expected 3 integers, got " + std::to_string(values.size()));
  }
  return {values[0], values[1], values[2]};
}

} // namespace arl2::config
