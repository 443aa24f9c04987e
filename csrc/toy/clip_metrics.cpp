// clip_metrics and its averages (see clip_metrics.h).
#include "toy/clip_metrics.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::toy {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The three frame-local metrics of one frame.
void frame_metrics(const FrameAnalysis& frame, const std::vector<int>& prompt_colours, ClipMetrics& out) {
  std::array<bool, kColours.size()> in_prompt{};
  double present = 0, count_error = 0;
  for (const int c : prompt_colours) {
    in_prompt[static_cast<size_t>(c)] = true;
    const auto& region = frame.colours[static_cast<size_t>(c)];
    present += region.present ? 1 : 0;
    count_error += std::abs(static_cast<double>(region.components) - 1);
  }
  double spurious = 0;
  for (size_t c = 0; c < kColours.size(); ++c) {
    spurious += (frame.colours[c].present && !in_prompt[c]) ? 1 : 0;
  }
  const auto n = static_cast<double>(prompt_colours.size());
  out[ClipMetric::kColourRecall].push_back(present / n);
  out[ClipMetric::kSpuriousColours].push_back(spurious);
  out[ClipMetric::kCountError].push_back(count_error / n);
}

// Mean |c_t - 2 c_{t-1} + c_{t-2}| over the prompt colours present in all three frames.
double centroid_accel(
    const FrameAnalysis& two_back,
    const FrameAnalysis& one_back,
    const FrameAnalysis& now,
    const std::vector<int>& colours) {
  double sum = 0;
  int counted = 0;
  for (const int c : colours) {
    const auto i = static_cast<size_t>(c);
    const auto &c2 = two_back.colours[i], &c1 = one_back.colours[i], &c0 = now.colours[i];
    if (c2.present && c1.present && c0.present) {
      sum += std::hypot(c0.x - 2 * c1.x + c2.x, c0.y - 2 * c1.y + c2.y);
      ++counted;
    }
  }
  return counted > 0 ? sum / counted : kNaN;
}

} // namespace

std::string_view name_of(ClipMetric metric) {
  switch (metric) {
    case ClipMetric::kColourRecall:
      return "colour_recall";
    case ClipMetric::kSpuriousColours:
      return "spurious_colours";
    case ClipMetric::kCountError:
      return "count_error";
    case ClipMetric::kCentroidAccel:
      return "centroid_accel";
    case ClipMetric::kFrameChange:
      return "frame_change";
  }
  return "";
}

ClipMetrics clip_metrics(
    const at::Tensor& clip, const std::vector<int>& prompt_colours, const FrameAnalysisOptions& options) {
  TORCH_CHECK(
      clip.dim() == 4 && clip.size(0) > 0 && clip.size(1) == 3,
      "clip metrics: expected a clip [frames, 3, size, size], got ",
      clip.sizes());
  TORCH_CHECK(!prompt_colours.empty(), "clip metrics: the prompt names no colour");
  for (const int c : prompt_colours) {
    TORCH_CHECK(
        c >= 0 && c < static_cast<int>(kColours.size()),
        "clip metrics: colour index ",
        c,
        " is outside the palette of ",
        kColours.size());
  }
  // Clamped as analyse_frame clamps, so that frame_change measures the picture that is analysed.
  const auto pixels = clip.to(at::kCPU, at::kFloat).clamp(-1, 1);
  const int64_t frames = pixels.size(0);
  ClipMetrics out;
  std::vector<FrameAnalysis> analyses;
  for (int64_t t = 0; t < frames; ++t) {
    analyses.push_back(analyse_frame(pixels[t], options));
    frame_metrics(analyses.back(), prompt_colours, out);
    out[ClipMetric::kCentroidAccel].push_back(
        t >= 2 ? centroid_accel(analyses[t - 2], analyses[t - 1], analyses[t], prompt_colours) : kNaN);
    // Half the difference in [-1, 1]: the same in [0, 1] units.
    out[ClipMetric::kFrameChange].push_back(
        t >= 1 ? (pixels[t] - pixels[t - 1]).abs().mean().item<double>() / 2 : kNaN);
  }
  return out;
}

ClipMetrics mean_over_clips(const std::vector<ClipMetrics>& clips) {
  TORCH_CHECK(!clips.empty(), "clip metrics: no clips to average");
  const int64_t frames = clips.front().frames();
  ClipMetrics mean;
  for (const auto metric : kClipMetrics) {
    auto& out = mean[metric];
    for (int64_t t = 0; t < frames; ++t) {
      double sum = 0;
      int counted = 0;
      for (const auto& clip : clips) {
        TORCH_CHECK(clip.frames() == frames, "clip metrics: clips of ", frames, " and ", clip.frames(), " frames");
        const double v = clip[metric][static_cast<size_t>(t)];
        if (!std::isnan(v)) {
          sum += v;
          ++counted;
        }
      }
      out.push_back(counted > 0 ? sum / counted : kNaN);
    }
  }
  return mean;
}

double mean_over_frames(const std::vector<double>& per_frame, int64_t begin, int64_t end) {
  TORCH_CHECK(
      0 <= begin && begin <= end && end <= static_cast<int64_t>(per_frame.size()),
      "clip metrics: asked for the mean of frames ",
      begin,
      " to ",
      end,
      " (end excluded) of ",
      per_frame.size());
  double sum = 0;
  int64_t counted = 0;
  for (int64_t t = begin; t < end; ++t) {
    const double v = per_frame[static_cast<size_t>(t)];
    if (!std::isnan(v)) {
      sum += v;
      ++counted;
    }
  }
  return counted > 0 ? sum / static_cast<double>(counted) : kNaN;
}

double mean_over_frames(const std::vector<double>& per_frame) {
  return mean_over_frames(per_frame, 0, static_cast<int64_t>(per_frame.size()));
}

} // namespace arl2::toy
