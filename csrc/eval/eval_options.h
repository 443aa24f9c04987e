// What `arl2 eval` is asked to do, apart from the models: the clips, the continuation split, the rollout lengths
// and how frames are read; and the names the models are reported under. Errors name the command's options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "toy/frame_analysis.h"

namespace arl2::eval {

struct EvalOptions {
  int64_t clips = 8;
  uint64_t seed = 1000;                         // of the scenes and of the models' noise; toy-data's default seed is 0
  std::vector<int64_t> lengths = {16, 64, 320}; // rollout lengths in frames, whole blocks
  int64_t context_blocks = 1;                   // continuation: true blocks committed
  int64_t predict_blocks = 3;                   // continuation: blocks generated after them
  toy::FrameAnalysisOptions analysis;
};

// Throws naming the option (--clips, --lengths, --context-blocks, --predict-blocks) that cannot work with
// blocks of `frames_per_block` frames.
void validate_eval_options(const EvalOptions& options, int64_t frames_per_block);

// The most frames any part of the evaluation needs of the truth: the longest rollout or the continuation's clip.
int64_t frames_needed(const EvalOptions& options, int64_t frames_per_block);

// A model to evaluate besides the teacher, as --model NAME=CONFIG gives it.
struct NamedConfig {
  std::string name;
  std::string config_path;
};

// The row names the report gives the reference rows and the teacher; no --model may take them.
inline constexpr const char* kTruthRow = "truth";
inline constexpr const char* kCopyLastFrameRow = "copy_last_frame";
inline constexpr const char* kTeacherRow = "teacher";

// "NAME=CONFIG": NAME of letters, digits, '_' and '-', CONFIG not empty. Throws naming --model otherwise.
NamedConfig parse_named_config(const std::string& text);

// Throws naming --model when two models share a name or one takes a reserved row name.
void check_model_names(const std::vector<NamedConfig>& models);

} // namespace arl2::eval
