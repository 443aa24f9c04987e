// eval.json and the summary table (see eval_report.h).
#include "eval/eval_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace arl2::eval {
namespace {

// Insertion order kept: the options first, the rows in the table's order.
using Json = nlohmann::ordered_json;

double mean_of(const std::vector<double>& values) {
  return toy::mean_over_frames(values, static_cast<int64_t>(values.size()));
}

// NaN (a frame without a value) as null, explicitly rather than by the writer's convention.
Json number(double v) {
  return std::isnan(v) ? Json(nullptr) : Json(v);
}

Json numbers(const std::vector<double>& values) {
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

Json rollout_json(const toy::ClipMetrics& metrics, const std::vector<int64_t>& lengths) {
  Json per_frame = Json::object(), means = Json::object();
  for (const auto metric : toy::kClipMetrics) {
    per_frame[std::string(toy::name_of(metric))] = numbers(metrics[metric]);
  }
  for (const int64_t length : lengths) {
    Json at_length = Json::object();
    for (const auto metric : toy::kClipMetrics) {
      at_length[std::string(toy::name_of(metric))] = number(toy::mean_over_frames(metrics[metric], length));
    }
    means[std::to_string(length)] = at_length;
  }
  return {{"frames", metrics.frames()}, {"per_frame", per_frame}, {"means", means}};
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
        {"mean", number(mean_of(*row.continuation_mse))}};
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
    out["rollout"] = rollout_json(*row.rollout, report.options.lengths);
  }
  out["seconds"] = row.seconds;
  return out;
}

std::string cell(const std::optional<double>& value) {
  char text[32];
  if (!value || std::isnan(*value)) {
    std::snprintf(text, sizeof(text), "%11s", "-");
  } else {
    std::snprintf(text, sizeof(text), "%11.4g", *value);
  }
  return text;
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
        {"min_component_pixels", o.analysis.min_component_pixels}}}};
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
  const auto name_cell = [&](const std::string& name) { return name + std::string(width + 2 - name.size(), ' '); };
  std::string out = "means over frames: continuation over the " +
                    std::to_string(report.options.predict_blocks * report.frames_per_block) +
                    " predicted frames, the teacher-forcing gap over the clip and the sampler's timesteps, rollout "
                    "metrics over " +
                    std::to_string(longest) + " frames\n";
  char header[256];
  std::snprintf(
      header,
      sizeof(header),
      "%11s%11s%11s%11s%11s%11s%11s\n",
      "cont. MSE",
      "TF MSE",
      "recall",
      "spurious",
      "count err",
      "accel px",
      "change");
  out += name_cell("model") + header;
  for (const auto& row : report.rows) {
    std::optional<double> continuation, gap;
    if (row.continuation_mse) {
      continuation = mean_of(*row.continuation_mse);
    }
    if (row.teacher_forcing) {
      gap = row.teacher_forcing->mean;
    }
    out += name_cell(row.name) + cell(continuation) + cell(gap);
    for (const auto metric : toy::kClipMetrics) {
      std::optional<double> value;
      if (row.rollout) {
        value = toy::mean_over_frames((*row.rollout)[metric], longest);
      }
      out += cell(value);
    }
    out += "\n";
  }
  return out;
}

} // namespace arl2::eval
