// Reading toy frames back from their pixels (toy/frame_analysis.h, toy/clip_metrics.h): on rendered truth every
// sprite the prompt names is found, in one piece, where the scene put it, and nothing else; a missing sprite
// lowers the recall; noise of a model's size changes none of it; and the per-frame metrics and their averages
// are what a hand computation gives.
#include <cmath>
#include <limits>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "toy/clip_metrics.h"
#include "toy/frame_analysis.h"
#include "toy/prompt.h"
#include "toy/render.h"
#include "toy/scene.h"

namespace arl2::test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool near(double a, double b, double tolerance = 1e-9) {
  return std::abs(a - b) <= tolerance;
}

std::vector<int> prompt_colours(const toy::Scene& scene) {
  std::vector<int> colours;
  for (const auto& words : toy::parse_prompt(toy::describe(scene))) {
    colours.push_back(words.colour);
  }
  return colours;
}

// Where the analysis should find a sprite: the centroid of its shape. A triangle's lies a third of the radius
// below the centre of its square (apex at -r, base at +r).
std::pair<double, double> shape_centroid(const toy::Sprite& sprite, const toy::Motion& m) {
  return {m.x, m.y + (sprite.shape == toy::Shape::kTriangle ? sprite.radius / 3 : 0.0)};
}

// Whether the squares of two sprites at frame `frame` are apart (one drawn over the other hides part of it).
bool apart(const toy::Scene& scene, const std::vector<std::vector<toy::Motion>>& paths, int64_t frame) {
  for (size_t i = 0; i < scene.sprites.size(); ++i) {
    for (size_t j = i + 1; j < scene.sprites.size(); ++j) {
      const auto &a = paths[i][static_cast<size_t>(frame)], &b = paths[j][static_cast<size_t>(frame)];
      const double reach = scene.sprites[i].radius + scene.sprites[j].radius + 1;
      if (std::abs(a.x - b.x) < reach && std::abs(a.y - b.y) < reach) {
        return false;
      }
    }
  }
  return true;
}

// Over 40 scenes of 12 frames at 32 x 32, each frame in which the sprites do not touch: `check` gets the
// scene, the frame index, the sprites' motions and the pixels to analyse (the rendered frame through `distort`).
template <typename Distort, typename Check>
int for_each_clear_frame(Distort&& distort, Check&& check) {
  int frames = 0;
  for (int64_t clip = 0; clip < 40; ++clip) {
    const auto scene = toy::sample_scene(1000, clip, {32, 3});
    std::vector<std::vector<toy::Motion>> paths;
    for (const auto& sprite : scene.sprites) {
      paths.push_back(toy::trajectory(sprite, 32, 12));
    }
    const auto pixels = toy::render_clip(scene, 12);
    for (int64_t t = 0; t < 12; ++t) {
      if (apart(scene, paths, t)) {
        check(scene, t, paths, toy::analyse_frame(distort(pixels[t])));
        ++frames;
      }
    }
  }
  return frames;
}

void check_finds_the_scene(
    const toy::Scene& scene,
    int64_t t,
    const std::vector<std::vector<toy::Motion>>& paths,
    const toy::FrameAnalysis& analysis,
    double centroid_tolerance) {
  INFO("scene " << toy::describe(scene) << ", frame " << t);
  std::vector<bool> named(toy::kColours.size(), false);
  for (size_t s = 0; s < scene.sprites.size(); ++s) {
    const auto& sprite = scene.sprites[s];
    named[static_cast<size_t>(sprite.colour)] = true;
    const auto& region = analysis.colours[static_cast<size_t>(sprite.colour)];
    CHECK(region.present);
    CHECK(region.components == 1);
    const auto [x, y] = shape_centroid(sprite, paths[s][static_cast<size_t>(t)]);
    CHECK(std::abs(region.x - x) < centroid_tolerance);
    CHECK(std::abs(region.y - y) < centroid_tolerance);
  }
  for (size_t c = 0; c < toy::kColours.size(); ++c) {
    if (!named[c]) {
      CHECK_FALSE(analysis.colours[c].present);
    }
  }
}

TEST_CASE("on rendered truth each sprite is found in one piece at its centroid, and no other colour", "[toy][eval]") {
  const int frames = for_each_clear_frame(
      [](const torch::Tensor& frame) { return frame; },
      [](const toy::Scene& scene, int64_t t, const auto& paths, const toy::FrameAnalysis& analysis) {
        check_finds_the_scene(scene, t, paths, analysis, /*centroid_tolerance=*/0.5);
      });
  CHECK(frames == 220); // of 480: the others have two sprites touching
}

TEST_CASE("noise the size of a model's errors changes what is found by little", "[toy][eval]") {
  torch::manual_seed(0);
  // 0.1 in [-1, 1] is 0.05 a channel in [0, 1]: pixels stay far nearer their own colour than any other.
  const auto noisy = [](const torch::Tensor& frame) { return frame + 0.1 * torch::randn_like(frame); };
  for_each_clear_frame(
      noisy, [](const toy::Scene& scene, int64_t t, const auto& paths, const toy::FrameAnalysis& analysis) {
        check_finds_the_scene(scene, t, paths, analysis, /*centroid_tolerance=*/1.0);
      });
}

TEST_CASE(
    "a sprite missing from the frame lowers the recall; one the prompt does not name is spurious", "[toy][eval]") {
  toy::Scene scene{
      32,
      {{toy::Shape::kCircle, 0, 4, {8, 8, 1, 0.25}},
       {toy::Shape::kSquare, 2, 4, {24, 24, -1, 0}},
       {toy::Shape::kTriangle, 5, 4, {8, 24, 0, -1}}}};
  const auto colours = prompt_colours(scene);
  REQUIRE(colours == std::vector<int>{0, 2, 5});
  const auto full = toy::clip_metrics(toy::render_clip(scene, 4), colours);
  for (int64_t t = 0; t < 4; ++t) {
    CHECK(full[toy::ClipMetric::kColourRecall][t] == 1);
    CHECK(full[toy::ClipMetric::kSpuriousColours][t] == 0);
    CHECK(full[toy::ClipMetric::kCountError][t] == 0);
  }

  auto without_blue = scene;
  without_blue.sprites.erase(without_blue.sprites.begin() + 1);
  const auto missing = toy::clip_metrics(toy::render_clip(without_blue, 4), colours);
  for (int64_t t = 0; t < 4; ++t) {
    CHECK(near(missing[toy::ClipMetric::kColourRecall][t], 2.0 / 3));
    CHECK(near(missing[toy::ClipMetric::kCountError][t], 1.0 / 3)); // |0 - 1| for blue
    CHECK(missing[toy::ClipMetric::kSpuriousColours][t] == 0);
  }

  // The full scene against a prompt of red alone: blue and magenta are spurious.
  const auto red_only = toy::clip_metrics(toy::render_clip(scene, 2), {0});
  CHECK(red_only[toy::ClipMetric::kColourRecall][0] == 1);
  CHECK(red_only[toy::ClipMetric::kSpuriousColours][0] == 2);
}

TEST_CASE("a sprite cut in two counts two components; specks are no component and no colour", "[toy][eval]") {
  toy::Scene scene{32, {{toy::Shape::kSquare, 1, 6, {16, 16, 0, 0}}}};
  auto frame = toy::render_clip(scene, 1)[0];
  // A background column through the middle of the square.
  for (int c = 0; c < 3; ++c) {
    frame[c].select(1, 16).fill_(2 * toy::kBackground[static_cast<size_t>(c)] - 1);
  }
  // Three yellow pixels in a corner: fewer than min_pixels.
  for (int c = 0; c < 3; ++c) {
    frame[c].slice(0, 0, 1).slice(1, 0, 3).fill_(2 * toy::kColours[3].rgb[static_cast<size_t>(c)] - 1);
  }
  const auto analysis = toy::analyse_frame(frame);
  CHECK(analysis.colours[1].components == 2);
  CHECK(analysis.colours[3].pixels == 3);
  CHECK_FALSE(analysis.colours[3].present);
  CHECK(analysis.colours[3].components == 0);
  const auto metrics = toy::clip_metrics(frame.unsqueeze(0), {1});
  CHECK(metrics[toy::ClipMetric::kCountError][0] == 1);
  CHECK(metrics[toy::ClipMetric::kSpuriousColours][0] == 0);
}

TEST_CASE("centroid acceleration: zero at constant velocity, the bounce's kink at a wall", "[toy][eval]") {
  // A square moving right at 1 pixel a frame, away from the walls: whole-pixel steps, exact centroids.
  toy::Scene steady{32, {{toy::Shape::kSquare, 0, 4, {8, 16, 1, 0}}}};
  const auto m = toy::clip_metrics(toy::render_clip(steady, 5), {0});
  CHECK(std::isnan(m[toy::ClipMetric::kCentroidAccel][0]));
  CHECK(std::isnan(m[toy::ClipMetric::kCentroidAccel][1]));
  for (int64_t t = 2; t < 5; ++t) {
    CHECK(near(m[toy::ClipMetric::kCentroidAccel][t], 0));
  }
  // Radius 4 against the right wall at 28, from 26 at 1.5 a frame: 26, 27.5, 29 mirrored to 27, then 25.5. The
  // second differences at frames 2 and 3 are 27 - 55 + 26 = -2 and 25.5 - 54 + 27.5 = -1.
  toy::Scene bounce{32, {{toy::Shape::kSquare, 0, 4, {26, 16, 1.5, 0}}}};
  const auto b = toy::clip_metrics(toy::render_clip(bounce, 4), {0});
  CHECK(near(b[toy::ClipMetric::kCentroidAccel][2], 2));
  CHECK(near(b[toy::ClipMetric::kCentroidAccel][3], 1));
}

TEST_CASE("frame change is the mean absolute pixel change in [0, 1] units", "[toy][eval]") {
  // Background, then every pixel's red channel up by 0.3 (0.6 in [-1, 1]): a third of the channels change.
  auto clip = torch::full({2, 3, 8, 8}, 2 * 0.1 - 1);
  clip[1][0] += 0.6;
  const auto m = toy::clip_metrics(clip, {0});
  CHECK(std::isnan(m[toy::ClipMetric::kFrameChange][0]));
  CHECK(near(m[toy::ClipMetric::kFrameChange][1], 0.1, 1e-6)); // float32 pixels
  CHECK(m[toy::ClipMetric::kColourRecall][1] == 0);            // nothing red enough
}

TEST_CASE("averages skip frames without a value", "[toy][eval]") {
  toy::ClipMetrics a, b;
  for (const auto metric : toy::kClipMetrics) {
    a[metric] = {1, kNaN, 3};
    b[metric] = {3, kNaN, kNaN};
  }
  const auto mean = toy::mean_over_clips({a, b});
  CHECK(mean[toy::ClipMetric::kCountError][0] == 2);
  CHECK(std::isnan(mean[toy::ClipMetric::kCountError][1]));
  CHECK(mean[toy::ClipMetric::kCountError][2] == 3);
  CHECK(toy::mean_over_frames(mean[toy::ClipMetric::kCountError], 0, 3) == 2.5);
  CHECK(toy::mean_over_frames(mean[toy::ClipMetric::kCountError], 0, 1) == 2);
  CHECK(toy::mean_over_frames(mean[toy::ClipMetric::kCountError], 1, 3) == 3);
  CHECK(std::isnan(toy::mean_over_frames(mean[toy::ClipMetric::kCountError], 1, 2)));
  CHECK(std::isnan(toy::mean_over_frames(mean[toy::ClipMetric::kCountError], 2, 2))); // no frame
  CHECK(std::isnan(toy::mean_over_frames({kNaN}, 0, 1)));
  CHECK(error_of([] {
          toy::mean_over_frames({1, 2}, 1, 3);
        }).find("asked for the mean of frames 1 to 3 (end excluded) of 2") != std::string::npos);
  CHECK(toy::name_of(toy::ClipMetric::kCentroidAccel) == "centroid_accel");
}

TEST_CASE("frame analysis refuses frames and options it cannot read", "[toy][eval][errors]") {
  CHECK(error_of([] {
          toy::analyse_frame(torch::zeros({4, 8, 8}));
        }).find("expected an RGB frame [3, size, size]") != std::string::npos);
  toy::FrameAnalysisOptions options;
  options.max_colour_distance = 0;
  CHECK(error_of([&] {
          toy::analyse_frame(torch::zeros({3, 8, 8}), options);
        }).find("max_colour_distance must be in (0, 1], got 0") != std::string::npos);
  CHECK(error_of([] {
          toy::clip_metrics(torch::zeros({1, 3, 8, 8}), {7});
        }).find("colour index 7 is outside the palette of 7") != std::string::npos);
}

} // namespace
} // namespace arl2::test
