// Checking the evaluation's options and model names (see eval_options.h).
#include "eval/eval_options.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <c10/util/Exception.h>

namespace arl2::eval {

void validate_eval_options(const EvalOptions& options, int64_t frames_per_block) {
  TORCH_CHECK(options.clips > 0, "--clips: expected at least one clip, got ", options.clips);
  TORCH_CHECK(
      options.context_blocks > 0, "--context-blocks: expected at least one block, got ", options.context_blocks);
  TORCH_CHECK(
      options.predict_blocks > 0, "--predict-blocks: expected at least one block, got ", options.predict_blocks);
  TORCH_CHECK(!options.lengths.empty(), "--lengths: expected at least one rollout length");
  for (const int64_t length : options.lengths) {
    TORCH_CHECK(
        length > 0 && length % frames_per_block == 0,
        "--lengths: ",
        length,
        " frames is not a positive whole number of blocks of ",
        frames_per_block,
        " frames (inference.frames_per_block)");
  }
  toy::validate_frame_analysis_options(options.analysis);
}

int64_t frames_needed(const EvalOptions& options, int64_t frames_per_block) {
  const int64_t continuation = (options.context_blocks + options.predict_blocks) * frames_per_block;
  return std::max(continuation, *std::max_element(options.lengths.begin(), options.lengths.end()));
}

NamedConfig parse_named_config(const std::string& text) {
  const auto equals = text.find('=');
  TORCH_CHECK(
      equals != std::string::npos && equals > 0 && equals + 1 < text.size(),
      "--model '",
      text,
      "': expected NAME=CONFIG (a name for the report, then the model's config file)");
  NamedConfig named{text.substr(0, equals), text.substr(equals + 1)};
  const bool word = std::all_of(named.name.begin(), named.name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '-';
  });
  TORCH_CHECK(word, "--model '", text, "': the name '", named.name, "' may hold only letters, digits, '_' and '-'");
  return named;
}

void check_model_names(const std::vector<NamedConfig>& models) {
  std::set<std::string> seen;
  for (const auto& m : models) {
    for (const char* reserved : {kTruthRow, kCopyLastFrameRow, kTeacherRow}) {
      TORCH_CHECK(
          m.name != reserved, "--model ", m.name, "=", m.config_path, ": '", reserved, "' names a row of its own");
    }
    TORCH_CHECK(seen.insert(m.name).second, "--model: the name '", m.name, "' is given twice");
  }
}

} // namespace arl2::eval
