// The toy video domain's scenes and pixels: the same seed gives the same bytes (pinned by a fingerprint, so
// another machine or library that draws differently fails here), sprites stay inside the frame and bounce off
// its walls, and pixels are anti-aliased blends of the background and the sprites' colours in [-1, 1].
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

#include <torch/torch.h>

#include "catch.h"
#include "io/fnv1a.h"
#include "toy/clips.h"
#include "toy/render.h"
#include "toy/scene.h"

namespace arl2::test {
namespace {

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

// FNV-1a of a tensor's bytes.
uint64_t fingerprint(const torch::Tensor& t) {
  const auto c = t.contiguous();
  io::Fnv1a hash;
  hash.add(c.data_ptr(), c.nbytes());
  return hash.value();
}

toy::ToyClipOptions small_options() {
  toy::ToyClipOptions o;
  o.frames = 6;
  return o;
}

// Within float rounding of the blend.
bool close(double a, double b, double tolerance = 1e-6) {
  return std::abs(a - b) <= tolerance;
}

float pixel(double channel) {
  return static_cast<float>(2 * channel - 1);
}

TEST_CASE("a seed gives the same clips, byte for byte; another seed other clips", "[toy]") {
  const auto o = small_options();
  const auto a = toy::make_toy_clips(7, 0, 4, o), b = toy::make_toy_clips(7, 0, 4, o);
  CHECK(same_bytes(a.pixels, b.pixels));
  CHECK(same_bytes(a.tokens.ids, b.tokens.ids));
  CHECK(same_bytes(a.text_embeddings, b.text_embeddings));
  CHECK(a.prompts == b.prompts);
  const auto other = toy::make_toy_clips(8, 0, 4, o);
  CHECK_FALSE(torch::equal(a.pixels, other.pixels));
  // Clip i depends on the seed and i alone, not on the batch it is made in.
  const auto tail = toy::make_toy_clips(7, 2, 2, o);
  CHECK(same_bytes(tail.pixels, a.pixels.slice(0, 2, 4)));
  CHECK(tail.prompts == std::vector<std::string>(a.prompts.begin() + 2, a.prompts.end()));
}

TEST_CASE("the clips of seed 0 are pinned on every machine", "[toy]") {
  // A change here changes every shard a seed makes: when it is meant, bump the version in the request of
  // `arl2 toy-data` (cli/toy_data.cpp) so that shards from the old generator are not taken for new ones.
  const auto clips = toy::make_toy_clips(0, 0, 8, small_options());
  CHECK(fingerprint(clips.pixels) == 0x77683d110447245bull);
  CHECK(fingerprint(clips.tokens.ids) == 0x815409fea70b568aull);
}

TEST_CASE("scenes have 1-3 sprites of distinct colours in colour order, inside the frame", "[toy]") {
  std::set<int64_t> counts;
  for (const int64_t size : {16, 32, 64}) {
    for (int64_t clip = 0; clip < 100; ++clip) {
      const auto scene = toy::sample_scene(3, clip, {size, 3});
      REQUIRE(scene.size == size);
      REQUIRE(!scene.sprites.empty());
      REQUIRE(scene.sprites.size() <= 3);
      counts.insert(static_cast<int64_t>(scene.sprites.size()));
      for (size_t i = 0; i < scene.sprites.size(); ++i) {
        const auto& s = scene.sprites[i];
        if (i > 0) {
          CHECK(scene.sprites[i - 1].colour < s.colour);
        }
        CHECK(s.radius >= size / 12.0);
        CHECK(s.radius <= size / 6.0);
        // The dominant component is at least twice the other: the prompt's direction is never a close call.
        CHECK(
            std::max(std::abs(s.start.vx), std::abs(s.start.vy)) >=
            2 * std::min(std::abs(s.start.vx), std::abs(s.start.vy)));
        bool inside = true, same_speed = true;
        for (const auto& m : toy::trajectory(s, size, 300)) {
          inside =
              inside && m.x - s.radius >= 0 && m.x + s.radius <= size && m.y - s.radius >= 0 && m.y + s.radius <= size;
          // Bounces flip a component's sign and keep its speed.
          same_speed = same_speed && std::abs(m.vx) == std::abs(s.start.vx) && std::abs(m.vy) == std::abs(s.start.vy);
        }
        CHECK(inside);
        CHECK(same_speed);
      }
    }
  }
  CHECK(counts == std::set<int64_t>{1, 2, 3});
}

TEST_CASE("a sprite bounces off a wall: position mirrored, velocity component negated", "[toy]") {
  // Right wall at 32 - radius 4 = 28: from 27.75 a step of 1 would reach 28.75, mirrored to 27.25.
  const auto right = toy::advance({27.75, 10, 1, 0.5}, 4, 32);
  CHECK(right.x == 27.25);
  CHECK(right.vx == -1);
  CHECK(right.y == 10.5);
  CHECK(right.vy == 0.5);
  // Top wall at the radius: from 4.5 a step of -0.75 would reach 3.75, mirrored to 4.25.
  const auto top = toy::advance({10, 4.5, 0, -0.75}, 4, 32);
  CHECK(top.y == 4.25);
  CHECK(top.vy == 0.75);
  CHECK(top.x == 10);
  // Then it moves away from the wall at the same speed.
  CHECK(toy::advance(right, 4, 32).x == 26.25);
}

TEST_CASE("a bouncing sprite's pixels turn back at the wall without crossing it", "[toy]") {
  // Radius 4 against the wall at 32: centres 27, 27.5 (28.5 mirrored at 28), 26, 24.5.
  toy::Scene scene{32, {{toy::Shape::kSquare, 0, 4, {27, 16, 1.5, 0}}}};
  const auto clip = toy::render_clip(scene, 4);
  const double bg = pixel(toy::kBackground[0]), fg = pixel(toy::kColours[0].rgb[0]);
  auto coverage = [&](int64_t frame, int64_t column) {
    return (clip[frame][0][16][column].item<double>() - bg) / (fg - bg);
  };
  CHECK(close(coverage(0, 30), 1));
  CHECK(close(coverage(0, 31), 0));
  CHECK(close(coverage(1, 31), 0.5));
  CHECK(close(coverage(2, 29), 1));
  CHECK(close(coverage(2, 30), 0));
  CHECK(close(coverage(3, 28), 0.5));
}

TEST_CASE("pixels are in [-1, 1]: background, sprite colours and anti-aliased edges", "[toy]") {
  const auto clips = toy::make_toy_clips(11, 0, 16, small_options());
  CHECK(clips.pixels.sizes() == torch::IntArrayRef({16, 6, 3, 32, 32}));
  CHECK(clips.pixels.scalar_type() == torch::kFloat);
  CHECK(clips.pixels.min().item<float>() >= -1);
  CHECK(clips.pixels.max().item<float>() <= 1);

  // A square at x = 16.25 with radius 4 covers columns 12.25 to 20.25: column 12 three quarters, 20 a quarter.
  toy::Scene scene{32, {{toy::Shape::kSquare, 2, 4, {16.25, 16.5, 0, 0}}}};
  const auto frame = toy::render_clip(scene, 1)[0];
  for (int c = 0; c < 3; ++c) {
    const double bg = toy::kBackground[static_cast<size_t>(c)], fg = toy::kColours[2].rgb[static_cast<size_t>(c)];
    CHECK(frame[c][0][0].item<float>() == pixel(bg));
    CHECK(frame[c][16][16].item<float>() == pixel(fg));
    CHECK(close(frame[c][16][12].item<float>(), pixel(0.25 * bg + 0.75 * fg)));
    CHECK(close(frame[c][16][20].item<float>(), pixel(0.75 * bg + 0.25 * fg)));
    CHECK(frame[c][16][21].item<float>() == pixel(bg));
  }
}

TEST_CASE("the three shapes cover the areas they should", "[toy]") {
  // Radius 8 at the centre of a 64-pixel frame: areas 4r^2, pi r^2 and 2r^2 pixels, within anti-aliasing error.
  const double r = 8;
  const std::pair<toy::Shape, double> shapes[] = {
      {toy::Shape::kSquare, 4 * r * r},
      {toy::Shape::kCircle, std::acos(-1.0) * r * r},
      {toy::Shape::kTriangle, 2 * r * r}};
  for (const auto& [shape, area] : shapes) {
    toy::Scene scene{64, {{shape, 6, r, {32, 32, 0, 0}}}};
    const auto red = toy::render_clip(scene, 1)[0][0]; // white on grey: coverage from any channel
    const double bg = pixel(toy::kBackground[0]), fg = pixel(1.0);
    const double covered = ((red - bg) / (fg - bg)).sum().item<double>();
    CHECK(close(covered, area, 0.01 * area));
  }
}

TEST_CASE("bad scene options are named", "[toy][errors]") {
  auto message = [](const toy::ToyClipOptions& o) -> std::string {
    try {
      toy::validate_toy_clip_options(o);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  auto o = small_options();
  o.scene.size = 4;
  CHECK(message(o).find("frame size must be 8 pixels or more, got 4") != std::string::npos);
  o = small_options();
  o.frames = 0;
  CHECK(message(o).find("frames must be positive") != std::string::npos);
  o = small_options();
  o.scene.max_sprites = 8;
  CHECK(message(o).find("1 to 7 sprites") != std::string::npos);
  o = small_options();
  o.text_len = 13;
  CHECK(message(o).find("text_len (13) must hold the longest prompt, 14 words for 3 sprites") != std::string::npos);
  o = small_options();
  o.text_dim = 23;
  CHECK(message(o).find("text_dim (23) must be at least 24") != std::string::npos);
}

} // namespace
} // namespace arl2::test
