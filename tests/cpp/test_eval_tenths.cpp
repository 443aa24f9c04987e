// The time summaries of `arl2 eval` (eval/tenths.h, eval/block_flicker.h): tenths that cover every frame once,
// with the rule's bounds when 10 does not divide the frames and NaN where a tenth has no value; and a block
// flicker ratio of 1 for a picture that changes evenly and the sawtooth's height for one that jumps at every
// block boundary, both on synthetic videos measured as rollouts are.
#include <cmath>
#include <limits>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "eval/block_flicker.h"
#include "eval/tenths.h"
#include "toy/clip_metrics.h"
#include "toy/render.h"
#include "toy/scene.h"

namespace arl2::test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool near(double a, double b, double tolerance) {
  return std::abs(a - b) <= tolerance;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A grey clip whose level (in [0, 1] units) rises by `inside` from frame to frame within a block of
// `frames_per_block` and by `boundary` from the last frame of a block to the first of the next.
torch::Tensor grey_clip(int64_t frames, int64_t frames_per_block, double inside, double boundary) {
  auto clip = torch::empty({frames, 3, 8, 8});
  double level = 0.1;
  for (int64_t t = 0; t < frames; ++t) {
    if (t > 0) {
      level += t % frames_per_block == 0 ? boundary : inside;
    }
    clip[t].fill_(2 * level - 1);
  }
  return clip;
}

// A red square moving right along x_t (pixels), one rendered frame each.
torch::Tensor square_clip(const std::vector<double>& xs) {
  std::vector<torch::Tensor> frames;
  for (const double x : xs) {
    const toy::Scene scene{32, {{toy::Shape::kSquare, 0, 4, {x, 16, 0, 0}}}};
    frames.push_back(toy::render_clip(scene, 1));
  }
  return torch::cat(frames);
}

std::vector<double> frame_change(const torch::Tensor& clip) {
  return toy::clip_metrics(clip, {0})[toy::ClipMetric::kFrameChange];
}

TEST_CASE("tenths: frame t of F in tenth floor(10 t / F), every frame in one", "[eval]") {
  using Bounds = std::array<int64_t, eval::kTenths + 1>;
  CHECK(eval::tenth_bounds(20) == Bounds{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20});
  // 16 frames: tenths of 2 and 1 frames, the longer ones spread evenly from the first.
  CHECK(eval::tenth_bounds(16) == Bounds{0, 2, 4, 5, 7, 8, 10, 12, 13, 15, 16});
  // Under 10 frames some tenths are empty.
  CHECK(eval::tenth_bounds(4) == Bounds{0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4});
  CHECK(eval::tenth_bounds(0) == Bounds{});
  CHECK(contains(error_of([] { eval::tenth_bounds(-1); }), "expected a frame count of 0 or more, got -1"));
}

TEST_CASE("tenth means: over the tenth's frames that have a value, NaN where none has", "[eval]") {
  std::vector<double> ramp;
  for (int t = 0; t < 24; ++t) {
    ramp.push_back(t);
  }
  const auto twenty = eval::tenth_means(ramp, 20); // frames 20-23 are not read
  for (size_t i = 0; i < twenty.size(); ++i) {
    CHECK(twenty[i] == 2.0 * static_cast<double>(i) + 0.5);
  }
  const auto sixteen = eval::tenth_means(ramp, 16);
  CHECK(sixteen[0] == 0.5); // frames 0-1
  CHECK(sixteen[2] == 4);   // frame 4
  CHECK(sixteen[9] == 15);

  ramp[0] = kNaN; // as frame_change has no value at frame 0
  ramp[5] = kNaN;
  const auto gaps = eval::tenth_means(ramp, 20);
  CHECK(gaps[0] == 1); // frames 0 and 1, only 1 with a value
  CHECK(gaps[2] == 4); // frames 4 and 5, only 4 with a value
  CHECK(std::isnan(eval::tenth_means(ramp, 10)[0]));

  const auto four = eval::tenth_means({1, 2, 3, 4}, 4);
  CHECK(four[0] == 1);
  CHECK(std::isnan(four[1])); // no frame
  CHECK(four[2] == 2);
  CHECK(four[5] == 3);
  CHECK(four[7] == 4);
  CHECK(std::isnan(four[9]));
  CHECK(contains(error_of([] { eval::tenth_means({1, 2}, 3); }), "asked for the tenths of 3 frames of 2"));
}

TEST_CASE("block flicker: a jump at every block boundary shows as the sawtooth's height", "[eval]") {
  // Blocks of 4: the level rises by 0.02 within a block and by 0.1 across a boundary.
  const auto sawtooth = frame_change(grey_clip(12, 4, 0.02, 0.1));
  const auto f = eval::block_flicker(sawtooth, 12, 4);
  CHECK(near(f.boundary_change, 0.1, 1e-6)); // float32 pixels
  CHECK(near(f.inside_change, 0.02, 1e-6));
  CHECK(near(f.ratio, 5, 1e-4));
  // Read as blocks of 3, the same video's boundaries fall inside its real blocks and the other way round.
  CHECK(eval::block_flicker(sawtooth, 12, 3).ratio < 1);
  // The first 4 frames are one block: no boundary, no ratio.
  const auto one_block = eval::block_flicker(sawtooth, 4, 4);
  CHECK(std::isnan(one_block.boundary_change));
  CHECK(near(one_block.inside_change, 0.02, 1e-6));
  CHECK(std::isnan(one_block.ratio));
  // Blocks of one frame: every change is a boundary.
  CHECK(std::isnan(eval::block_flicker(sawtooth, 12, 1).inside_change));
  // A picture still inside its blocks: no ratio, the means say why.
  const auto still = eval::block_flicker(frame_change(grey_clip(8, 4, 0, 0.1)), 8, 4);
  CHECK(still.inside_change == 0);
  CHECK(std::isnan(still.ratio));
}

TEST_CASE("block flicker: 1 for a sprite moving evenly, above 1 for one that jumps between blocks", "[eval]") {
  std::vector<double> even, jumping;
  for (int t = 0; t < 12; ++t) {
    even.push_back(8 + t);
    jumping.push_back(8 + t + 2 * (t / 4)); // 1 pixel a frame, 3 from the last frame of a block to the next
  }
  CHECK(near(eval::block_flicker(frame_change(square_clip(even)), 12, 4).ratio, 1, 1e-6));
  CHECK(near(eval::block_flicker(frame_change(square_clip(jumping)), 12, 4).ratio, 3, 1e-6));
}

TEST_CASE("block flicker refuses blocks and frame counts it cannot read", "[eval][errors]") {
  CHECK(contains(
      error_of([] {
        eval::block_flicker({kNaN, 1}, 2, 0);
      }),
      "expected at least one frame per block, got 0"));
  CHECK(contains(error_of([] { eval::block_flicker({kNaN, 1}, 3, 1); }), "asked for 3 frames of 2"));
}

} // namespace
} // namespace arl2::test
