// What `arl2 eval` found, one row per model: the truth and the copy-last-frame baseline for reference, the
// teacher, then each --model. eval.json holds every per-frame array; the summary table one number per column.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_options.h"
#include "eval/teacher_forcing_gap.h"
#include "toy/clip_metrics.h"

namespace arl2::eval {

// Which model a row measured: enough to tell two evaluations' models apart.
struct ModelSource {
  std::string config_path;
  std::string config_hash; // config::config_hash of the config as it ran, overrides applied
  std::string checkpoint;  // inference.checkpoint; empty: random weights
  std::string checkpoint_fingerprint;
  std::string hybrid_checkpoint;
  std::string hybrid_checkpoint_fingerprint;
  int64_t hybrid_layers = 0;
  std::vector<int64_t> denoising_steps;
  std::string device, dtype;
};

struct EvalRow {
  std::string name;
  std::optional<ModelSource> source;                   // absent for the truth and the baseline
  std::optional<std::vector<double>> continuation_mse; // per predicted frame
  std::optional<TeacherForcingGap> teacher_forcing;    // against the teacher: the --model rows only
  std::optional<toy::ClipMetrics> rollout;             // per frame, up to the longest length
  double seconds = 0;                                  // wall clock of the row's work
};

struct EvalReport {
  EvalOptions options;
  std::vector<std::string> overrides; // --set, applied to every config
  int64_t frames_per_block = 0;
  int64_t frame_size = 0;
  std::vector<EvalRow> rows;
};

// eval.json's text: the options, and per row its source and, per metric, the per-frame arrays, their means and
// their per-tenth means (tenths.h): continuation over the predicted frames, rollouts over the first L frames for
// each of --lengths, with the block flicker (block_flicker.h) of those L frames. "tenth_bounds" gives, for each
// frame count that has tenths, where each tenth starts and ends (tenth i: frames bounds[i] to bounds[i + 1] - 1,
// counted from the first predicted frame for the continuation). Values that do not exist (NaN: a frame, tenth or
// block boundary without a value) are null.
std::string eval_json(const EvalReport& report);

// Two tables, a line per row in each. The means over frames: continuation MSE, the teacher-forcing gap and the
// rollout metrics at the longest length. Then for the rows with rollouts, at the longest length: colour recall,
// spurious colours and frame change at the start, middle and end (first, fifth and last tenth) and the block
// flicker ratio. "-" where a row has no such number.
std::string summary_table(const EvalReport& report);

} // namespace arl2::eval
