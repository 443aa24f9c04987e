// What a frame of the toy domain shows, read from its pixels alone: which palette colours are there, in how
// many separate pieces, and where. Eval code compares that with the prompt (a prompt colour is one sprite) and
// follows it from frame to frame; it works the same on rendered truth and on a model's output.
#pragma once

#include <array>
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "toy/scene.h"

namespace arl2::toy {

struct FrameAnalysisOptions {
  // A pixel is of palette colour c when c is its nearest colour (among the palette and the background) and is
  // within this RGB distance, in [0, 1] units. The palette colours are 0.8 or more apart, so 0.25 never mixes
  // two of them up, and it leaves out what is no sprite's colour: anti-aliased edges (an edge pixel counts
  // once the sprite covers about three quarters of it), blends of overlapping sprites, a model's smudges.
  double max_colour_distance = 0.25;
  // A colour is present with at least this many pixels: a few stray pixels are noise, not a sprite (the
  // smallest sprite, a white triangle of radius size / 12, keeps 6 to 12 pixels within the distance at 32 x 32).
  int64_t min_pixels = 4;
  // 4-connected pieces of a colour smaller than this are specks and not counted as components.
  int64_t min_component_pixels = 4;
};

// Throws naming the option that cannot work (a distance outside (0, 1], counts below 1).
void validate_frame_analysis_options(const FrameAnalysisOptions& options);

struct ColourRegion {
  int64_t pixels = 0;
  bool present = false;   // pixels >= options.min_pixels
  int64_t components = 0; // 4-connected pieces of at least options.min_component_pixels
  // The mean of its pixels' centres, in the scene's coordinates (pixel (i, j) spans [j, j + 1] x [i, i + 1]);
  // only meaningful with pixels > 0.
  double x = 0, y = 0;
};

struct FrameAnalysis {
  std::array<ColourRegion, kColours.size()> colours; // in kColours order
};

// `frame` [3, size, size] RGB in Wan's pixel range [-1, 1] (values outside are clamped to it), any dtype and
// device.
FrameAnalysis analyse_frame(const at::Tensor& frame, const FrameAnalysisOptions& options = {});

} // namespace arl2::toy
