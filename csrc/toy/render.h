// Drawing a toy scene into pixels: each sprite is painted over the background in the scene's (canonical) order,
// weighted by the fraction of the pixel it covers, so that sub-pixel motion changes the pixels smoothly.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "toy/scene.h"

namespace arl2::toy {

// Frames 0..frames-1 of `scene` as float32 [frames, 3, size, size] (RGB) in [-1, 1], Wan's pixel range.
at::Tensor render_clip(const Scene& scene, int64_t frames);

} // namespace arl2::toy
