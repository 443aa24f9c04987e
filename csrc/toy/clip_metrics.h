// Per-frame measures of a toy clip against its prompt, from the pixels alone (frame_analysis.h), so that a
// model's rollouts and the rendered truth are measured alike. Each prompt colour is one sprite; over a long
// rollout, a model that forgets shows colours fading (recall), colours the prompt never named (spurious),
// sprites that split or vanish (count error), jerky motion (centroid acceleration) or a frozen or flickering
// picture (frame change).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "toy/frame_analysis.h"

namespace arl2::toy {

enum class ClipMetric {
  kColourRecall,    // the fraction of the prompt's colours present
  kSpuriousColours, // palette colours present that the prompt does not name
  kCountError,      // mean over the prompt's colours of |components - 1|
  kCentroidAccel,   // mean over the prompt's colours present in frames t-2..t of |c_t - 2 c_{t-1} + c_{t-2}|,
                    // in pixels: 0 for constant velocity, a spike at a bounce (in the truth too)
  kFrameChange,     // mean |x_t - x_{t-1}| over pixels and channels, in [0, 1] units
};

inline constexpr std::array<ClipMetric, 5> kClipMetrics = {
    ClipMetric::kColourRecall,
    ClipMetric::kSpuriousColours,
    ClipMetric::kCountError,
    ClipMetric::kCentroidAccel,
    ClipMetric::kFrameChange};

// "colour_recall", "spurious_colours", "count_error", "centroid_accel", "frame_change".
std::string_view name_of(ClipMetric metric);

// Each metric per frame. NaN where a frame has no value: centroid_accel before frame 2 or with no prompt colour
// present in the three frames, frame_change at frame 0.
struct ClipMetrics {
  std::array<std::vector<double>, kClipMetrics.size()> per_frame;

  std::vector<double>& operator[](ClipMetric metric) {
    return per_frame[static_cast<size_t>(metric)];
  }
  const std::vector<double>& operator[](ClipMetric metric) const {
    return per_frame[static_cast<size_t>(metric)];
  }
  int64_t frames() const {
    return static_cast<int64_t>(per_frame.front().size());
  }
};

// `clip` [frames, 3, size, size] in [-1, 1] (clamped to it, as an image writer would); `prompt_colours` the
// kColours indices its prompt names. Throws on a colour index outside the palette.
ClipMetrics clip_metrics(
    const at::Tensor& clip, const std::vector<int>& prompt_colours, const FrameAnalysisOptions& options = {});

// Frame by frame, the mean over the clips that have a value there (NaN where none has). The clips must have the
// same frame count.
ClipMetrics mean_over_clips(const std::vector<ClipMetrics>& clips);

// The mean of the values of frames begin..end-1 that are not NaN (NaN if none is, or the range is empty).
double mean_over_frames(const std::vector<double>& per_frame, int64_t begin, int64_t end);

// The same over every frame.
double mean_over_frames(const std::vector<double>& per_frame);

} // namespace arl2::toy
