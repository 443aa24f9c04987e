// Block-boundary flicker (see block_flicker.h).
#include "eval/block_flicker.h"

#include <limits>

#include <c10/util/Exception.h>

#include "toy/clip_metrics.h"

namespace arl2::eval {

BlockFlicker block_flicker(const std::vector<double>& frame_change, int64_t frames, int64_t frames_per_block) {
  TORCH_CHECK(frames_per_block > 0, "block flicker: expected at least one frame per block, got ", frames_per_block);
  TORCH_CHECK(
      frames >= 0 && frames <= static_cast<int64_t>(frame_change.size()),
      "block flicker: asked for ",
      frames,
      " frames of ",
      frame_change.size());
  std::vector<double> boundary, inside;
  for (int64_t t = 1; t < frames; ++t) {
    (t % frames_per_block == 0 ? boundary : inside).push_back(frame_change[static_cast<size_t>(t)]);
  }
  BlockFlicker out;
  out.boundary_change = toy::mean_over_frames(boundary);
  out.inside_change = toy::mean_over_frames(inside);
  // A picture that holds still inside its blocks gets no ratio rather than an infinite one, which JSON cannot
  // hold; its two means say what happened.
  out.ratio =
      out.inside_change == 0 ? std::numeric_limits<double>::quiet_NaN() : out.boundary_change / out.inside_change;
  return out;
}

} // namespace arl2::eval
