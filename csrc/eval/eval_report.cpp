// eval.json and the summary table (see eval_report.h).
#include "eval/eval_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <utility>

#include <nlohmann/json.hpp>

#include "eval/block_flicker.h"
#include "eval/tenths.h"

namespace arl2::eval {
namespace {

// Insertion order kept: the options first, the rows in the table's order.
using Json = nlohmann::ordered_json;

// NaN (a frame without a value) as null, explicitly rather than by the writer's convention.
Json number(double v) {
  return std::isnan(v) ? Json(nullptr) : Json(v);
}

template <typename Values>
Json numbers(const Values& values) {
  Json out = Json::array();
  for (const double v : values) {
    out.push_back(number(v));
  }
  return out;
}

Json source_json(const ModelSource& s) {
  return {
      {"config", s.config_path},
      {"config_hash", s.config_hash},
      {"checkpoint", s.checkpoint},
      {"checkpoint_fingerprint", s.checkpoint_fingerprint},
      {"hybrid_checkpoint", s.hybrid_checkpoint},
      {"hybrid_checkpoint_fingerprint", s.hybrid_checkpoint_fingerprint},
      {"hybrid_layers", s.hybrid_layers},
      {"denoising_steps", s.denoising_steps},
      {"device", s.device},
      {"dtype", s.dtype}};
}

Json flicker_json(const BlockFlicker& flicker) {
  return {
      {"boundary_change", number(flicker.boundary_change)},
      {"inside_change", number(flicker.inside_change)},
      {"ratio", number(flicker.ratio)}};
}

Json rollout_json(const toy::ClipMetrics& metrics, const std::vector<int64_t>& lengths, int64_t frames_per_block) {
  Json per_frame = Json::object(), means = Json::object(), tenths = Json::object(), flicker = Json::object();
  for (const auto metric : toy::kClipMetrics) {
    per_frame[std::string(toy::name_of(metric))] = numbers(metrics[metric]);
  }
  for (const int64_t length : lengths) {
    Json mean_at = Json::object(), tenths_at = Json::object();
    for (const auto metric : toy::kClipMetrics) {
      const auto name = std::string(toy::name_of(metric));
      mean_at[name] = number(toy::mean_over_frames(metrics[metric], 0, length));
      tenths_at[name] = numbers(tenth_means(metrics[metric], length));
    }
    const auto key = std::to_string(length);
    means[key] = mean_at;
    tenths[key] = tenths_at;
    flicker[key] = flicker_json(block_flicker(metrics[toy::ClipMetric::kFrameChange], length, frames_per_block));
  }
  return {
      {"frames", metrics.frames()},
      {"per_frame", per_frame},
      {"means", means},
      {"tenths", tenths},
      {"block_flicker", flicker}};
}

Json row_json(const EvalRow& row, const EvalReport& report) {
  Json out = Json::object();
  if (row.source) {
    out["source"] = source_json(*row.source);
  }
  if (row.continuation_mse) {
    out["continuation"] = {
        {"first_frame", report.options.context_blocks * report.frames_per_block},
        {"mse_per_frame", numbers(*row.continuation_mse)},
        {"mean", number(toy::mean_over_frames(*row.continuation_mse))},
        {"mse_per_tenth",
         numbers(tenth_means(*row.continuation_mse, static_cast<int64_t>(row.continuation_mse->size())))}};
  }
  if (row.teacher_forcing) {
    const auto& tf = *row.teacher_forcing;
    out["teacher_forcing"] = {
        {"timesteps", tf.timesteps},
        {"mse_per_frame", numbers(tf.mse_per_frame)},
        {"mse_per_timestep", numbers(tf.mse_per_timestep)},
        {"mean", number(tf.mean)}};
  }
  if (row.rollout) {
    out["rollout"] = rollout_json(*row.rollout, report.options.lengths, report.frames_per_block);
  }
  out["seconds"] = row.seconds;
  return out;
}

// Frame counts whose tenths eval.json reports: the rollout lengths and the continuation's predicted frames.
Json tenth_bounds_json(const EvalReport& report) {
  std::vector<int64_t> counts = report.options.lengths;
  counts.push_back(report.options.predict_blocks * report.frames_per_block);
  Json out = Json::object();
  for (const int64_t frames : counts) {
    out[std::to_string(frames)] = tenth_bounds(frames);
  }
  return out;
}

// A table's cells: the width, and the significant digits a number keeps with a space to spare.
struct CellFormat {
  int width, digits;
};
constexpr CellFormat kMeanCell{11, 4}, kTenthCell{9, 3};

// `text` right-aligned in a cell.
std::string padded(const std::string& text, CellFormat format) {
  return std::string(static_cast<size_t>(std::max(0, format.width - static_cast<int>(text.size()))), ' ') + text;
}

std::string cell(const std::optional<double>& value, CellFormat format) {
  if (!value || std::isnan(*value)) {
    return padded("-", format);
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.*g", format.digits, *value);
  return padded(text, format);
}

// `title` centred in dashes over `cells` cells of the tenths table.
std::string group_header(const std::string& title, int cells) {
  const int dashes = cells * kTenthCell.width - 2 - static_cast<int>(title.size()) - 2;
  const int left = dashes / 2;
  return "  " + std::string(static_cast<size_t>(left), '-') + " " + title + " " +
         std::string(static_cast<size_t>(dashes - left), '-');
}

// The tenths the tenths table shows, as (heading, tenth index): the first, fifth and last.
constexpr std::array<std::pair<const char*, size_t>, 3> kShownTenths = {
    {{"start", 0}, {"middle", 4}, {"end", static_cast<size_t>(kTenths - 1)}}};
constexpr std::array<toy::ClipMetric, 3> kTenthMetrics = {
    toy::ClipMetric::kColourRecall, toy::ClipMetric::kSpuriousColours, toy::ClipMetric::kFrameChange};

// Row names padded to one width, so that the two tables line up.
struct NameColumn {
  size_t width;
  std::string operator()(const std::string& name) const {
    return name + std::string(width - name.size(), ' ');
  }
};

std::string means_table(const EvalReport& report, int64_t longest, const NameColumn& name_cell) {
  std::string out = "means over frames: continuation over the " +
                    std::to_string(report.options.predict_blocks * report.frames_per_block) +
                    " predicted frames, the teacher-forcing gap over the clip and the sampler's timesteps, rollout "
                    "metrics over " +
                    std::to_string(longest) + " frames\n";
  out += name_cell("model");
  for (const char* heading : {"cont. MSE", "TF MSE", "recall", "spurious", "count err", "accel px", "change"}) {
    out += padded(heading, kMeanCell);
  }
  out += "\n";
  for (const auto& row : report.rows) {
    std::optional<double> continuation, gap;
    if (row.continuation_mse) {
      continuation = toy::mean_over_frames(*row.continuation_mse);
    }
    if (row.teacher_forcing) {
      gap = row.teacher_forcing->mean;
    }
    out += name_cell(row.name) + cell(continuation, kMeanCell) + cell(gap, kMeanCell);
    for (const auto metric : toy::kClipMetrics) {
      std::optional<double> value;
      if (row.rollout) {
        value = toy::mean_over_frames((*row.rollout)[metric], 0, longest);
      }
      out += cell(value, kMeanCell);
    }
    out += "\n";
  }
  return out;
}

// The rows with rollouts only: the copy-last-frame baseline has none.
std::string tenths_table(const EvalReport& report, int64_t longest, const NameColumn& name_cell) {
  std::string out = "rollouts of " + std::to_string(longest) +
                    " frames at the start, middle and end (means over the first, fifth and last tenth of the "
                    "frames) and their\nblock flicker (frame change across block boundaries over frame change "
                    "inside blocks; the truth shows ~1)\n";
  out += std::string(name_cell.width, ' ');
  for (const auto metric : kTenthMetrics) {
    out += group_header(std::string(toy::name_of(metric)), static_cast<int>(kShownTenths.size()));
  }
  out += padded("flicker", kTenthCell) + "\n" + name_cell("model");
  for ([[maybe_unused]] const auto metric : kTenthMetrics) {
    for (const auto& [heading, tenth] : kShownTenths) {
      out += padded(heading, kTenthCell);
    }
  }
  out += padded("ratio", kTenthCell) + "\n";
  for (const auto& row : report.rows) {
    if (!row.rollout) {
      continue;
    }
    const auto& rollout = *row.rollout;
    out += name_cell(row.name);
    for (const auto metric : kTenthMetrics) {
      const auto tenths = tenth_means(rollout[metric], longest);
      for (const auto& [heading, tenth] : kShownTenths) {
        out += cell(tenths[tenth], kTenthCell);
      }
    }
    const auto flicker = block_flicker(rollout[toy::ClipMetric::kFrameChange], longest, report.frames_per_block);
    out += cell(flicker.ratio, kTenthCell) + "\n";
  }
  return out;
}

} // namespace

std::string eval_json(const EvalReport& report) {
  const auto& o = report.options;
  Json out = {
      {"clips", o.clips},
      {"seed", o.seed},
      {"lengths", o.lengths},
      {"context_blocks", o.context_blocks},
      {"predict_blocks", o.predict_blocks},
      {"frames_per_block", report.frames_per_block},
      {"frame_size", report.frame_size},
      {"overrides", report.overrides},
      {"frame_analysis",
       {{"max_colour_distance", o.analysis.max_colour_distance},
        {"min_pixels", o.analysis.min_pixels},
        {"min_component_pixels", o.analysis.min_component_pixels}}},
      {"tenth_bounds", tenth_bounds_json(report)}};
  Json models = Json::object();
  for (const auto& row : report.rows) {
    models[row.name] = row_json(row, report);
  }
  out["models"] = models;
  return out.dump(2) + "\n";
}

std::string summary_table(const EvalReport& report) {
  const int64_t longest = *std::max_element(report.options.lengths.begin(), report.options.lengths.end());
  size_t width = 5;
  for (const auto& row : report.rows) {
    width = std::max(width, row.name.size());
  }
  const NameColumn names{width + 2};
  return means_table(report, longest, names) + "\n" + tenths_table(report, longest, names);
}

} // namespace arl2::eval
