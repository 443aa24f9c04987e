// analyse_frame (see frame_analysis.h): each pixel is labelled with its palette colour or none, then each
// colour's pixels are counted, averaged and split into 4-connected pieces by a flood fill.
#include "toy/frame_analysis.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::toy {
namespace {

constexpr int kNoColour = -1;

// The palette colour of each pixel of `rgb` [3, size, size] in [0, 1] (row-major), or kNoColour.
std::vector<int> label_pixels(const at::Tensor& rgb, double max_distance) {
  const int64_t size = rgb.size(1), plane = size * size;
  const float* data = rgb.data_ptr<float>();
  std::vector<int> labels(static_cast<size_t>(plane), kNoColour);
  for (int64_t p = 0; p < plane; ++p) {
    const double r = data[p], g = data[plane + p], b = data[2 * plane + p];
    const auto distance2 = [&](const std::array<double, 3>& c) {
      return (r - c[0]) * (r - c[0]) + (g - c[1]) * (g - c[1]) + (b - c[2]) * (b - c[2]);
    };
    int nearest = kNoColour;
    double best = distance2(kBackground);
    for (size_t c = 0; c < kColours.size(); ++c) {
      const double d = distance2(kColours[c].rgb);
      if (d < best) {
        best = d;
        nearest = static_cast<int>(c);
      }
    }
    if (nearest != kNoColour && best < max_distance * max_distance) {
      labels[static_cast<size_t>(p)] = nearest;
    }
  }
  return labels;
}

// The size of each 4-connected piece of same-labelled pixels, added to its colour's region.
void count_components(
    const std::vector<int>& labels,
    int64_t size,
    int64_t min_component_pixels,
    std::array<ColourRegion, kColours.size()>& regions) {
  std::vector<bool> seen(labels.size(), false);
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < static_cast<int64_t>(labels.size()); ++start) {
    const int colour = labels[static_cast<size_t>(start)];
    if (colour == kNoColour || seen[static_cast<size_t>(start)]) {
      continue;
    }
    int64_t pixels = 0;
    seen[static_cast<size_t>(start)] = true;
    stack.push_back(start);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++pixels;
      const int64_t row = p / size, col = p % size;
      const auto visit = [&](int64_t q) {
        if (labels[static_cast<size_t>(q)] == colour && !seen[static_cast<size_t>(q)]) {
          seen[static_cast<size_t>(q)] = true;
          stack.push_back(q);
        }
      };
      if (col > 0) {
        visit(p - 1);
      }
      if (col + 1 < size) {
        visit(p + 1);
      }
      if (row > 0) {
        visit(p - size);
      }
      if (row + 1 < size) {
        visit(p + size);
      }
    }
    if (pixels >= min_component_pixels) {
      ++regions[static_cast<size_t>(colour)].components;
    }
  }
}

} // namespace

void validate_frame_analysis_options(const FrameAnalysisOptions& options) {
  TORCH_CHECK(
      options.max_colour_distance > 0 && options.max_colour_distance <= 1,
      "frame analysis: max_colour_distance must be in (0, 1], got ",
      options.max_colour_distance);
  TORCH_CHECK(options.min_pixels >= 1, "frame analysis: min_pixels must be 1 or more, got ", options.min_pixels);
  TORCH_CHECK(
      options.min_component_pixels >= 1,
      "frame analysis: min_component_pixels must be 1 or more, got ",
      options.min_component_pixels);
}

FrameAnalysis analyse_frame(const at::Tensor& frame, const FrameAnalysisOptions& options) {
  validate_frame_analysis_options(options);
  TORCH_CHECK(
      frame.dim() == 3 && frame.size(0) == 3 && frame.size(1) == frame.size(2) && frame.size(1) > 0,
      "frame analysis: expected an RGB frame [3, size, size], got ",
      frame.sizes());
  const auto rgb = frame.to(at::kCPU, at::kFloat).clamp(-1, 1).add(1).mul_(0.5).contiguous();
  const int64_t size = rgb.size(1);
  const auto labels = label_pixels(rgb, options.max_colour_distance);

  FrameAnalysis analysis;
  auto& regions = analysis.colours;
  for (int64_t p = 0; p < static_cast<int64_t>(labels.size()); ++p) {
    const int colour = labels[static_cast<size_t>(p)];
    if (colour != kNoColour) {
      auto& region = regions[static_cast<size_t>(colour)];
      ++region.pixels;
      region.x += static_cast<double>(p % size) + 0.5;
      region.y += static_cast<double>(p / size) + 0.5;
    }
  }
  for (auto& region : regions) {
    if (region.pixels > 0) {
      region.x /= static_cast<double>(region.pixels);
      region.y /= static_cast<double>(region.pixels);
    }
    region.present = region.pixels >= options.min_pixels;
  }
  count_components(labels, size, options.min_component_pixels, regions);
  return analysis;
}

} // namespace arl2::toy
