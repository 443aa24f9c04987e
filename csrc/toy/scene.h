// The toy video domain's ground truth: a scene of 1-3 coloured sprites (circle, square, triangle), each moving
// at a constant velocity and bouncing off the walls of a square frame. Scenes are drawn from a seed and a clip
// index alone, so eval code can rebuild the truth of any clip in a shard and follow it past the clip's end.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace arl2::toy {

enum class Shape { kCircle, kSquare, kTriangle };
enum class Direction { kLeft, kRight, kUp, kDown };

inline constexpr std::array<std::string_view, 3> kShapeNames = {"circle", "square", "triangle"};
inline constexpr std::array<std::string_view, 4> kDirectionNames = {"left", "right", "up", "down"};

// Channel values in [0, 1]; the pixels map them to Wan's [-1, 1].
struct Colour {
  std::string_view name;
  std::array<double, 3> rgb;
};
// Far apart from each other and from the background, so that a sprite's colour can be told from a few pixels.
inline constexpr std::array<Colour, 7> kColours = {{
    {"red", {1.0, 0.1, 0.1}},
    {"green", {0.1, 0.8, 0.1}},
    {"blue", {0.2, 0.3, 1.0}},
    {"yellow", {1.0, 0.9, 0.1}},
    {"cyan", {0.1, 0.9, 0.9}},
    {"magenta", {0.9, 0.2, 0.9}},
    {"white", {1.0, 1.0, 1.0}},
}};
inline constexpr std::array<double, 3> kBackground = {0.1, 0.1, 0.1};

// A sprite's centre in pixels (x to the right, y down; the frame spans [0, size] on both axes) and its velocity
// in pixels per frame.
struct Motion {
  double x = 0, y = 0, vx = 0, vy = 0;
};

struct Sprite {
  Shape shape = Shape::kCircle;
  int colour = 0;    // index into kColours; the sprites of a scene have distinct colours
  double radius = 0; // half the side of the square that holds the shape, which is what bounces off the walls
  Motion start;      // at frame 0
};

struct Scene {
  int64_t size = 0;            // frames are size x size pixels
  std::vector<Sprite> sprites; // in canonical order: by colour index, as the prompt lists them
};

struct SceneOptions {
  int64_t size = 32;
  int64_t max_sprites = 3; // each scene has 1..max_sprites
};

// Throws naming the option when `options` cannot make a scene (a frame too small to draw in, a sprite count
// outside 1..kColours.size()).
void validate_scene_options(const SceneOptions& options);

// Clip `clip` of `seed`: the sprite count, their distinct colours, shapes and sizes, start positions inside the
// frame, and velocities whose dominant component is at least twice the other, so the direction a prompt names is
// never a close call.
Scene sample_scene(uint64_t seed, int64_t clip, const SceneOptions& options);

// One frame on: the centre moves by the velocity, and a component that would take the sprite's square past a
// wall is reflected off it (position mirrored, velocity component negated).
Motion advance(const Motion& motion, double radius, int64_t size);

// The sprite's motion at frames 0..frames-1.
std::vector<Motion> trajectory(const Sprite& sprite, int64_t size, int64_t frames);

// The direction of the dominant component of the velocity.
Direction direction_of(const Motion& motion);

} // namespace arl2::toy
