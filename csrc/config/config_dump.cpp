// dump_config (see config.h): every section with every value, so that a run folder's config.yaml reads
// back to the configuration that ran, whatever the defaults become later.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "io/fnv1a.h"

namespace arl2::config {
namespace {

// The shortest decimal that reads back as exactly `x` (the emitter's default rounds to 6 digits).
std::string exact(double x) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, x);
    if (std::strtod(text, nullptr) == x) {
      break;
    }
  }
  return text;
}

// Every field of `config`'s table under `section`, but those it leaves out (FieldRole).
template <typename Config>
void put_section(YAML::Emitter& out, const char* section, const Config& config) {
  out << YAML::Key << section << YAML::Value << YAML::BeginMap;
  visit_fields(config, [&out](const char* key, const auto& field, const auto& accepts, const io::FieldRole& role = {}) {
    using T = std::decay_t<decltype(field)>;
    if (!role.applies || role.unset || !role.dumped) {
      return;
    }
    if constexpr (std::is_same_v<T, std::optional<double>>) {
      if (!field) {
        return;
      }
    }
    out << YAML::Key << key << YAML::Value;
    if constexpr (std::is_same_v<T, double>) {
      out << exact(field);
    } else if constexpr (std::is_same_v<T, std::optional<double>>) {
      out << exact(*field);
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::array<int64_t, 3>>) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto v : field) {
        out << v;
      }
      out << YAML::EndSeq;
    } else if constexpr (
        std::is_same_v<std::decay_t<decltype(accepts)>, io::IntRange> ||
        std::is_same_v<std::decay_t<decltype(accepts)>, io::AnyValue>) {
      out << field;
    } else { // a Choice
      out << accepts.name_of(field);
    }
  });
  out << YAML::EndMap;
}

} // namespace

std::string dump_config(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  put_section(out, "model", config.model);
  if (config.hybrid) {
    put_section(out, "hybrid", *config.hybrid);
  }
  put_section(out, "inference", config.inference);
  put_section(out, "train", config.train);
  put_section(out, "data", config.data);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_hash(const Config& config) {
  io::Fnv1a hash;
  hash.add(dump_config(config));
  return hash.hex();
}

} // namespace arl2::config
