// Scene sampling and motion (see scene.h).
#include "toy/scene.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <c10/util/Exception.h>

#include "toy/rng.h"

namespace arl2::toy {

void validate_scene_options(const SceneOptions& options) {
  TORCH_CHECK(options.size >= 8, "toy clips: the frame size must be 8 pixels or more, got ", options.size);
  TORCH_CHECK(
      options.max_sprites >= 1 && options.max_sprites <= static_cast<int64_t>(kColours.size()),
      "toy clips: a scene holds 1 to ",
      kColours.size(),
      " sprites (one per colour), asked for up to ",
      options.max_sprites);
}

Scene sample_scene(uint64_t seed, int64_t clip, const SceneOptions& options) {
  validate_scene_options(options);
  auto rng = clip_rng(seed, clip);
  const auto size = static_cast<double>(options.size);
  const int64_t count = 1 + rng.below(options.max_sprites);
  // Distinct colours: the first `count` entries of a Fisher-Yates shuffle.
  std::array<int, kColours.size()> palette{};
  std::iota(palette.begin(), palette.end(), 0);
  for (int64_t i = 0; i < count; ++i) {
    std::swap(palette[i], palette[i + rng.below(static_cast<int64_t>(palette.size()) - i)]);
  }
  Scene scene{options.size, {}};
  for (int64_t i = 0; i < count; ++i) {
    Sprite s;
    s.colour = palette[i];
    s.shape = static_cast<Shape>(rng.below(static_cast<int64_t>(kShapeNames.size())));
    s.radius = rng.uniform(size / 12, size / 6);
    s.start.x = rng.uniform(s.radius, size - s.radius);
    s.start.y = rng.uniform(s.radius, size - s.radius);
    // Speeds from a pixel every other frame (at 32 pixels) to a quarter of the frame in six frames: every clip
    // moves visibly, and no step can jump past a wall and back.
    const double dominant = rng.sign() * rng.uniform(size / 64, size / 24);
    const double minor = rng.sign() * std::abs(dominant) * rng.uniform(0.0, 0.5);
    const bool horizontal = rng.below(2) == 0;
    s.start.vx = horizontal ? dominant : minor;
    s.start.vy = horizontal ? minor : dominant;
    scene.sprites.push_back(s);
  }
  std::sort(
      scene.sprites.begin(), scene.sprites.end(), [](const Sprite& a, const Sprite& b) { return a.colour < b.colour; });
  return scene;
}

namespace {

// One axis of `advance`: the square [p - radius, p + radius] stays inside [0, size].
void advance_axis(double& p, double& v, double radius, double size) {
  p += v;
  if (p < radius) {
    p = 2 * radius - p;
    v = -v;
  } else if (p > size - radius) {
    p = 2 * (size - radius) - p;
    v = -v;
  }
}

} // namespace

Motion advance(const Motion& motion, double radius, int64_t size) {
  Motion next = motion;
  advance_axis(next.x, next.vx, radius, static_cast<double>(size));
  advance_axis(next.y, next.vy, radius, static_cast<double>(size));
  return next;
}

std::vector<Motion> trajectory(const Sprite& sprite, int64_t size, int64_t frames) {
  std::vector<Motion> motions;
  motions.reserve(static_cast<size_t>(std::max<int64_t>(frames, 0)));
  Motion m = sprite.start;
  for (int64_t f = 0; f < frames; ++f) {
    motions.push_back(m);
    m = advance(m, sprite.radius, size);
  }
  return motions;
}

Direction direction_of(const Motion& motion) {
  if (std::abs(motion.vx) >= std::abs(motion.vy)) {
    return motion.vx < 0 ? Direction::kLeft : Direction::kRight;
  }
  return motion.vy < 0 ? Direction::kUp : Direction::kDown;
}

} // namespace arl2::toy
