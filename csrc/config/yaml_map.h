// Reading one YAML mapping of a config file into plain values, with errors that name the key path and
// the line, e.g. `hybrid.ratio: expected a number, got "abc" (line 3)`. Every section reader of
// config.cpp goes through it, so every section reports mistakes the same way.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace arl2::config {

class YamlMap {
 public:
  // `node` must be a mapping; `path` names it in errors ("hybrid").
  YamlMap(const YAML::Node& node, std::string path);

  // Throws naming the first key that is not in `known`, and the known ones.
  void check_keys(const std::vector<std::string>& known) const;
  bool has(const std::string& key) const;

  // The value under `key`, which must be present and of the type: throws naming path.key, what it
  // holds and its line otherwise.
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::string string(const std::string& key) const;
  // A string that must be one of `known`.
  std::string choice(const std::string& key, const std::vector<std::string>& known) const;
  std::vector<int64_t> integers(const std::string& key) const;
  std::array<int64_t, 3> integer_triple(const std::string& key) const;

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
