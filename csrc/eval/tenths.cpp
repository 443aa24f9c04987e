// Per-tenth means (see tenths.h).
#include "eval/tenths.h"

#include <c10/util/Exception.h>

#include "toy/clip_metrics.h"

namespace arl2::eval {

std::array<int64_t, kTenths + 1> tenth_bounds(int64_t frames) {
  TORCH_CHECK(frames >= 0, "tenths: expected a frame count of 0 or more, got ", frames);
  std::array<int64_t, kTenths + 1> bounds{};
  for (int64_t i = 0; i <= kTenths; ++i) {
    bounds[static_cast<size_t>(i)] = (i * frames + kTenths - 1) / kTenths;
  }
  return bounds;
}

std::array<double, kTenths> tenth_means(const std::vector<double>& per_frame, int64_t frames) {
  TORCH_CHECK(
      frames <= static_cast<int64_t>(per_frame.size()),
      "tenths: asked for the tenths of ",
      frames,
      " frames of ",
      per_frame.size());
  const auto bounds = tenth_bounds(frames);
  std::array<double, kTenths> means{};
  for (size_t i = 0; i < means.size(); ++i) {
    means[i] = toy::mean_over_frames(per_frame, bounds[i], bounds[i + 1]);
  }
  return means;
}

} // namespace arl2::eval
