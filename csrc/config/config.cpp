// load_config and parse_config (see config.h): the top level of the file, one reader per section.
#include "config/config.h"

#include <fstream>
#include <sstream>

#include <c10/util/Exception.h>

#include "config/sections.h"

namespace arl2::config {
namespace {

Config read_config(const YAML::Node& root) {
  Config config; // an empty file or section: Wan2.1-T2V-1.3B, no hybrid layers
  if (root && !root.IsNull()) {
    const YamlMap top(root, "config");
    top.check_keys({"model", "hybrid"});
    if (top.has("model")) {
      config.model = read_model_section(YamlMap(root["model"], "model"));
    }
    if (top.has("hybrid")) {
      config.hybrid = read_hybrid_section(YamlMap(root["hybrid"], "hybrid"));
    }
  }
  model::validate_model_config(config.model);
  if (config.hybrid) {
    model::hybrid_layer_indices(*config.hybrid, config.model.num_layers);
  }
  return config;
}

} // namespace

Config parse_config(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    TORCH_CHECK(false, source, ": not valid YAML: ", e.msg, " (line ", e.mark.line + 1, ")");
  }
  try {
    return read_config(root);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, source, ": ", e.what_without_backtrace());
  }
}

Config load_config(const std::string& path) {
  std::ifstream file(path);
  TORCH_CHECK(file.good(), "config: cannot read '", path, "'");
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path);
}

} // namespace arl2::config
