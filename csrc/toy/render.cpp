// render_clip (see render.h). Coverage comes from an 8x8 grid of sample points per pixel tested against the exact
// shape with +, -, * and comparisons only: IEEE arithmetic without library calls, so the pixels are the same
// bits on every machine (the toy target also turns off FMA contraction; see csrc/CMakeLists.txt).
#include "toy/render.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::toy {
namespace {

constexpr int kSamples = 8; // per pixel side: 64 coverage levels

// Whether the point (dx, dy) from the sprite's centre is inside its shape.
bool inside(Shape shape, double r, double dx, double dy) {
  switch (shape) {
    case Shape::kCircle:
      return dx * dx + dy * dy <= r * r;
    case Shape::kSquare:
      return std::abs(dx) <= r && std::abs(dy) <= r;
    case Shape::kTriangle:
      // Apex up at (0, -r), base from (-r, r) to (r, r): the half-width grows from 0 to r down the square.
      return dy <= r && 2 * std::abs(dx) <= dy + r;
  }
  return false;
}

// Wan's pixel range [-1, 1] from a channel value in [0, 1]. Blending is linear, so it can happen in either range.
double to_pixel(double channel) {
  return 2 * channel - 1;
}

// Blends one sprite at `m` into the [3, size, size] frame.
void paint(float* frame, int64_t size, const Sprite& sprite, const Motion& m) {
  const double r = sprite.radius;
  const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(m.x - r)));
  const int64_t x1 = std::min<int64_t>(size, static_cast<int64_t>(std::ceil(m.x + r)));
  const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(m.y - r)));
  const int64_t y1 = std::min<int64_t>(size, static_cast<int64_t>(std::ceil(m.y + r)));
  const auto& rgb = kColours[static_cast<size_t>(sprite.colour)].rgb;
  const int64_t plane = size * size;
  for (int64_t py = y0; py < y1; ++py) {
    for (int64_t px = x0; px < x1; ++px) {
      int hits = 0;
      for (int sy = 0; sy < kSamples; ++sy) {
        const double dy = static_cast<double>(py) + (sy + 0.5) / kSamples - m.y;
        for (int sx = 0; sx < kSamples; ++sx) {
          const double dx = static_cast<double>(px) + (sx + 0.5) / kSamples - m.x;
          hits += inside(sprite.shape, r, dx, dy) ? 1 : 0;
        }
      }
      if (hits == 0) {
        continue;
      }
      const double a = static_cast<double>(hits) / (kSamples * kSamples);
      for (int c = 0; c < 3; ++c) {
        float& v = frame[c * plane + py * size + px];
        v = static_cast<float>(v * (1 - a) + to_pixel(rgb[static_cast<size_t>(c)]) * a);
      }
    }
  }
}

} // namespace

at::Tensor render_clip(const Scene& scene, int64_t frames) {
  TORCH_CHECK(frames > 0, "toy clips: expected a positive number of frames, got ", frames);
  const int64_t size = scene.size;
  auto clip = at::empty({frames, 3, size, size}, at::kFloat);
  for (int c = 0; c < 3; ++c) {
    clip.select(1, c).fill_(to_pixel(kBackground[static_cast<size_t>(c)]));
  }
  std::vector<std::vector<Motion>> paths;
  for (const auto& sprite : scene.sprites) {
    paths.push_back(trajectory(sprite, size, frames));
  }
  float* data = clip.data_ptr<float>();
  for (int64_t f = 0; f < frames; ++f) {
    for (size_t s = 0; s < scene.sprites.size(); ++s) {
      paint(data + f * 3 * size * size, size, scene.sprites[s], paths[s][static_cast<size_t>(f)]);
    }
  }
  return clip;
}

} // namespace arl2::toy
