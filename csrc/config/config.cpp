// load_config and parse_config (see config.h): the top level of the file; the sections whose values have relations
// to check have their own readers (sections.h), the others are their field tables.
#include "config/config.h"

#include <fstream>
#include <sstream>
#include <vector>

#include <c10/util/Exception.h>

#include "config/sections.h"

namespace arl2::config {
namespace {

std::string preset_names() {
  std::string names;
  for (const auto& name : model::model_preset_names()) {
    names += (names.empty() ? "" : ", ") + name;
  }
  return names;
}

// Stage 3's rollouts are whole blocks, long enough for the ground-truth context, the gradient window and the
// block predicted after them. Fails at train.rollout_frames (its line where the file sets it).
void check_rollout_frames(const Config& config, const YAML::Node& root) {
  const auto& t = config.train;
  const int64_t frames_per_block = config.inference.generator.frames_per_block;
  if (t.stage != 3 || frames_per_block <= 0) { // the generator names a non-positive block size
    return;
  }
  const int64_t shortest = t.rollout_context_blocks + t.rollout_window_blocks + 1;
  std::string what;
  if (t.rollout_frames % frames_per_block != 0) {
    what = std::to_string(t.rollout_frames) + " latent frames are not whole blocks of inference.frames_per_block (" +
           std::to_string(frames_per_block) + ")";
  } else if (t.rollout_frames / frames_per_block < shortest) {
    what = std::to_string(t.rollout_frames / frames_per_block) + " blocks cannot hold train.rollout_context_blocks (" +
           std::to_string(t.rollout_context_blocks) + "), train.rollout_window_blocks (" +
           std::to_string(t.rollout_window_blocks) + ") and the block predicted after them: set at least " +
           std::to_string(shortest * frames_per_block) + " frames";
  } else {
    return;
  }
  const auto train = root["train"];
  if (train && train.IsMap() && train["rollout_frames"]) {
    fail_at(train["rollout_frames"], "train.rollout_frames", what);
  }
  TORCH_CHECK(false, "train.rollout_frames (default ", t.rollout_frames, "): ", what);
}

Config read_config(const YAML::Node& root) {
  // An empty file is more likely a mistake (the wrong path, a file not yet written) than a wish for the
  // 1.3B default, so a config names its model.
  TORCH_CHECK(
      root && !root.IsNull(),
      "the config is empty: it must at least name the model, e.g. model: {preset: toy} (presets: ",
      preset_names(),
      ")");
  Config config;
  const YamlMap top(root, "config");
  top.check_keys({"model", "hybrid", "inference", "train", "data"});
  if (top.has("model")) {
    config.model = read_model_section(YamlMap(root["model"], "model"));
  }
  if (top.has("hybrid")) {
    config.hybrid = read_hybrid_section(YamlMap(root["hybrid"], "hybrid"));
  }
  if (top.has("inference")) {
    read_fields(YamlMap(root["inference"], "inference"), config.inference);
  }
  if (top.has("train")) {
    config.train = read_train_section(YamlMap(root["train"], "train"));
  }
  if (top.has("data")) {
    read_fields(YamlMap(root["data"], "data"), config.data);
  }
  if (!top.has("model")) {
    fail_at(root, "model", "missing: name the model, e.g. model: {preset: toy} (presets: " + preset_names() + ")");
  }
  model::validate_model_config(config.model);
  if (config.hybrid) {
    model::hybrid_layer_indices(*config.hybrid, config.model.num_layers);
  }
  check_rollout_frames(config, root);
  TORCH_CHECK(
      !(config.train.stage == 0 && config.hybrid),
      "train.stage: 0 trains the plain model (the teacher), but the config has a hybrid section: remove it, or set "
      "train.stage to 1, 2 or 3 to distil the hybrid");
  return config;
}

// Sets the value at `key_path=value` (dotted) in `root`, making the maps on the way.
void apply_override(YAML::Node& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  TORCH_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key=value, e.g. inference.seed=3");
  std::vector<std::string> keys;
  std::stringstream path(assignment.substr(0, eq));
  for (std::string key; std::getline(path, key, '.');) {
    TORCH_CHECK(!key.empty(), "--set '", assignment, "': empty key in the path");
    keys.push_back(key);
  }
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    TORCH_CHECK(false, "--set '", assignment, "': not a valid YAML value: ", e.msg);
  }
  if (value.IsScalar()) {
    // Rebuilt without the mark of its one-line document, so that errors do not point at a line of the file.
    value = YAML::Node(value.Scalar());
  }
  // yaml-cpp's operator[] on a node returns a handle that rebinds on assignment, so walk with copies
  // of the handles and assign through the parent.
  YAML::Node node = root;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    TORCH_CHECK(!node[keys[i]] || node[keys[i]].IsMap(), "--set '", assignment, "': '", keys[i], "' is not a mapping");
    if (!node[keys[i]]) {
      node[keys[i]] = YAML::Node(YAML::NodeType::Map);
    }
    node.reset(node[keys[i]]);
  }
  node[keys.back()] = value;
}

} // namespace

Config parse_config(const std::string& yaml, const std::string& source, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    TORCH_CHECK(false, source, ": not valid YAML: ", e.msg, " (line ", e.mark.line + 1, ")");
  }
  if (!overrides.empty() && (!root || root.IsNull())) {
    root = YAML::Node(YAML::NodeType::Map);
  }
  for (const auto& assignment : overrides) {
    apply_override(root, assignment);
  }
  try {
    return read_config(root);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, source, ": ", e.what_without_backtrace());
  }
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream file(path);
  TORCH_CHECK(file.good(), "config: cannot read '", path, "'");
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path, overrides);
}

} // namespace arl2::config
