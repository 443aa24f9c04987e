// Reading one YAML mapping of a config file into plain values, with errors that name the key path and
// the line, e.g. `hybrid.ratio: expected a number, got "abc" (line 3)`. Every section reader of
// config.cpp goes through it, so every section reports mistakes the same way.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace arl2::config {

// The values a config field accepts, stated in its errors: "expected an integer >= 1, got 0 (line 7)".
// Sizes have an upper bound too, so that no product of them overflows 64 bits before it is checked.
struct IntRange {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};

// Finite numbers between `min` and `max`, each bound included unless marked open.
struct NumberRange {
  double min = -std::numeric_limits<double>::max();
  double max = std::numeric_limits<double>::max();
  bool min_open = false;
  bool max_open = false;
};

class YamlMap {
 public:
  // `node` must be a mapping without repeated keys; `path` names it in errors ("hybrid").
  YamlMap(const YAML::Node& node, std::string path);

  // Throws naming the first key that is not in `known`, and the known ones.
  void check_keys(const std::vector<std::string>& known) const;
  bool has(const std::string& key) const;

  // The value under `key`, which must be present and of the type: throws naming path.key, what it
  // holds and its line otherwise.
  int64_t integer(const std::string& key, IntRange range = {}) const;
  double number(const std::string& key, NumberRange range = {}) const;
  bool boolean(const std::string& key) const;
  std::string string(const std::string& key) const;
  // A string that must be one of `known`.
  std::string choice(const std::string& key, const std::vector<std::string>& known) const;
  std::vector<int64_t> integers(const std::string& key, IntRange range = {}) const;
  std::array<int64_t, 3> integer_triple(const std::string& key, IntRange range = {}) const;

  // Set `field` from `key` where the map holds it, and leave it alone where not; a value outside `range`
  // fails naming the key, the range and the line. Numbers must be finite (YAML's .nan and .inf are not).
  void read(const std::string& key, int64_t& field, IntRange range) const;
  void read(const std::string& key, double& field, NumberRange range) const;
  void read(const std::string& key, bool& field) const;
  void read(const std::string& key, std::string& field) const;

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

} // namespace arl2::config
