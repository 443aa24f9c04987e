// A per-frame array summarised by tenths of its first frames: a model that drifts over a long rollout shows a
// trend from the first tenth to the last that the mean over all frames hides.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace arl2::eval {

inline constexpr int64_t kTenths = 10;

// Frame t of `frames` falls in tenth floor(10 t / frames), so tenth i is frames bounds[i]..bounds[i + 1]-1 with
// bounds[i] = ceil(i * frames / 10). When 10 does not divide `frames` the tenths one frame longer are spread
// evenly, the first tenth among them: over 10 frames it holds frame 1, the first with a frame change. Under 10
// frames, some tenths hold no frame.
std::array<int64_t, kTenths + 1> tenth_bounds(int64_t frames);

// Per tenth of the first `frames` frames of `per_frame`, the mean of its frames that have a value (not NaN); NaN
// for a tenth that has none (no frame at all, or frames without a value such as frame_change's frame 0).
std::array<double, kTenths> tenth_means(const std::vector<double>& per_frame, int64_t frames);

} // namespace arl2::eval
