// Reading one YAML mapping of a config file into plain values, with errors that name the key path and
// the line, e.g. `hybrid.ratio: expected a number, got "abc" (line 3)`. Every section reader of
// config.cpp goes through it, so every section reports mistakes the same way; read_fields reads a struct's
// whole field table (io/fields.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "io/fields.h"

namespace arl2::config {

class YamlMap {
 public:
  // `node` must be a mapping without repeated keys; `path` names it in errors ("hybrid").
  YamlMap(const YAML::Node& node, std::string path);

  // Throws naming the first key that is not in `known`, and the known ones.
  void check_keys(const std::vector<std::string>& known) const;
  bool has(const std::string& key) const;

  // The value under `key`, which must be present and of the type: throws naming path.key, what it
  // holds and its line otherwise.
  int64_t integer(const std::string& key, io::IntRange range = {}) const;
  double number(const std::string& key, io::NumberRange range = {}) const;
  bool boolean(const std::string& key) const;
  std::string string(const std::string& key) const;
  // A string that must be one of `known`.
  std::string choice(const std::string& key, const std::vector<std::string>& known) const;
  std::vector<int64_t> integers(const std::string& key, io::IntRange range = {}) const;
  std::array<int64_t, 3> integer_triple(const std::string& key, io::IntRange range = {}) const;

  // Throws `path.key: what (line N)` for the value under `key`, for checks a section makes of a value.
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  YAML::Node value(const std::string& key) const;
  std::string key_path(const std::string& key) const;

  YAML::Node node_;
  std::string path_;
};

// Throws `<path>: <what> (line N)` for `node`.
[[noreturn]] void fail_at(const YAML::Node& node, const std::string& path, const std::string& what);

// Sets each field of `config` whose key the map holds and leaves the others alone; refuses keys outside the
// table and `other_keys`, keys of fields that do not apply (FieldRole), and values of the wrong type or outside
// their field's range. Numbers must be finite (YAML's .nan and .inf are not).
template <typename Config>
void read_fields(const YamlMap& map, Config& config, std::vector<std::string> other_keys = {}) {
  auto known = io::field_keys(config);
  known.insert(known.end(), other_keys.begin(), other_keys.end());
  map.check_keys(known);
  visit_fields(config, [&map](const char* key, auto& field, const auto& accepts, const io::FieldRole& role = {}) {
    if (!map.has(key)) {
      return;
    }
    if (!role.applies) {
      map.fail(key, role.why_not);
    }
    using T = std::remove_reference_t<decltype(field)>;
    if constexpr (std::is_same_v<T, bool>) {
      field = map.boolean(key);
    } else if constexpr (std::is_same_v<T, int64_t>) {
      field = map.integer(key, accepts);
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      field = static_cast<uint64_t>(map.integer(key, accepts));
    } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::optional<double>>) {
      field = map.number(key, accepts);
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      field = map.integers(key, accepts);
    } else if constexpr (std::is_same_v<T, std::array<int64_t, 3>>) {
      field = map.integer_triple(key, accepts);
    } else if constexpr (std::is_same_v<std::decay_t<decltype(accepts)>, io::AnyValue>) {
      static_assert(std::is_same_v<T, std::string>, "a field of a type read_fields cannot read");
      field = map.string(key);
    } else {                                                       // a Choice
      field = *accepts.value_of(map.choice(key, accepts.names())); // choice() refuses any other name
    }
  });
}

} // namespace arl2::config
