// The toy domain's prompts and text input: every prompt reads back as its scene (count, colours, shapes,
// directions checked against the velocities themselves), the tokenizer's fixed ids and its errors, and the padded
// ids, mask and one-hot embeddings the model takes.
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "toy/clips.h"
#include "toy/prompt.h"
#include "toy/text.h"

namespace arl2::test {
namespace {

TEST_CASE("prompts read back as their scenes", "[toy]") {
  for (int64_t clip = 0; clip < 300; ++clip) {
    const auto scene = toy::sample_scene(5, clip, {});
    const auto prompt = toy::describe(scene);
    const auto words = toy::parse_prompt(prompt);
    REQUIRE(words.size() == scene.sprites.size());
    for (size_t i = 0; i < words.size(); ++i) {
      const auto& s = scene.sprites[i];
      CHECK(words[i].colour == s.colour);
      CHECK(words[i].shape == s.shape);
      const auto& v = s.start;
      const auto expected = std::abs(v.vx) > std::abs(v.vy)
                                ? (v.vx < 0 ? toy::Direction::kLeft : toy::Direction::kRight)
                                : (v.vy < 0 ? toy::Direction::kUp : toy::Direction::kDown);
      CHECK(words[i].direction == expected);
    }
  }
}

TEST_CASE("a prompt lists its sprites in words", "[toy]") {
  toy::Scene scene{32, {}};
  scene.sprites.push_back({toy::Shape::kCircle, 0, 4, {10, 10, -1, 0.25}});    // red, mostly left
  scene.sprites.push_back({toy::Shape::kSquare, 2, 4, {20, 20, 0.1, 0.5}});    // blue, mostly down (y grows down)
  scene.sprites.push_back({toy::Shape::kTriangle, 6, 4, {20, 20, 0.1, -0.5}}); // white, mostly up
  CHECK(toy::describe(scene) == "red circle moving left, blue square moving down, white triangle moving up");
}

TEST_CASE("the vocabulary's ids are fixed", "[toy]") {
  // Stored shards hold these ids: a change here makes old shards mean other words.
  const std::vector<std::string> expected = {
      "<pad>",
      ",",
      "moving",
      "red",
      "green",
      "blue",
      "yellow",
      "cyan",
      "magenta",
      "white",
      "circle",
      "square",
      "triangle",
      "left",
      "right",
      "up",
      "down"};
  CHECK(toy::vocabulary() == expected);
  CHECK(
      toy::tokenize("red circle moving left, blue square moving down") ==
      std::vector<int64_t>{3, 10, 2, 13, 1, 5, 11, 2, 16});
  CHECK(toy::tokenize("  white   triangle ,up ") == std::vector<int64_t>{9, 12, 1, 15});
  CHECK(toy::longest_prompt_tokens(3) == 14);
}

TEST_CASE("unknown words and malformed prompts are named", "[toy][errors]") {
  const auto unknown = error_of([] { toy::tokenize("red circle moving sideways"); });
  CHECK(unknown.find("unknown word 'sideways' in 'red circle moving sideways'") != std::string::npos);
  CHECK(unknown.find("the vocabulary is: , moving red") != std::string::npos);
  CHECK(error_of([] { toy::tokenize("<pad>"); }).find("unknown word '<pad>'") != std::string::npos);
  CHECK(error_of([] {
          toy::parse_prompt("red moving circle left");
        }).find("expected a shape as word 2") != std::string::npos);
  CHECK(error_of([] {
          toy::parse_prompt("red circle moving left blue");
        }).find("expected ',' as word 5") != std::string::npos);
  CHECK(error_of([] {
          toy::parse_prompt("red circle moving");
        }).find("expected a direction as word 4") != std::string::npos);
  CHECK(error_of([] { toy::parse_prompt(""); }).find("expected a colour as word 1") != std::string::npos);
}

TEST_CASE("prompts become padded ids, a mask and one-hot embeddings", "[toy]") {
  const auto tokens =
      toy::tokenize_prompts({"red circle moving left", "green square moving up, blue circle moving down"}, 10);
  CHECK(tokens.ids.sizes() == torch::IntArrayRef({2, 10}));
  CHECK(tokens.ids.scalar_type() == torch::kLong);
  CHECK(torch::equal(tokens.ids[0], torch::tensor({3, 10, 2, 13, 0, 0, 0, 0, 0, 0}, torch::kLong)));
  CHECK(torch::equal(tokens.ids[1], torch::tensor({4, 11, 2, 15, 1, 5, 10, 2, 16, 0}, torch::kLong)));
  CHECK(tokens.mask.scalar_type() == torch::kBool);
  CHECK(torch::equal(tokens.mask.sum(1), torch::tensor({4, 9}, torch::kLong)));

  const auto embedded = toy::one_hot_text_embeddings(tokens, 32);
  CHECK(embedded.sizes() == torch::IntArrayRef({2, 10, 32}));
  CHECK(embedded.scalar_type() == torch::kFloat);
  // Two 1s per word: at its id, and at 17 (the vocabulary's size) plus its phrase, the commas before it; padding
  // rows are zero, as Wan pads.
  CHECK(torch::equal(embedded.sum(-1), 2 * tokens.mask.to(torch::kFloat)));
  const auto words = embedded.narrow(-1, 0, 17), phrases = embedded.narrow(-1, 17, 15);
  CHECK(torch::equal(words.argmax(-1).masked_select(tokens.mask), tokens.ids.masked_select(tokens.mask)));
  CHECK(torch::equal(phrases.argmax(-1)[1], torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, 0}, torch::kLong)));
  // Only the phrase tells which colour goes with which shape.
  const auto swapped =
      toy::one_hot_text_embeddings(toy::tokenize_prompts({"green circle moving down, blue square moving up"}, 10), 32);
  const auto swapped_words = swapped[0].narrow(-1, 0, 17), swapped_phrases = swapped[0].narrow(-1, 17, 15);
  CHECK(torch::equal(words[1].sum(0), swapped_words.sum(0)));
  // (word, phrase) pair counts
  CHECK(!torch::equal(words[1].t().mm(phrases[1]), swapped_words.t().mm(swapped_phrases)));

  const auto too_long = error_of([] { toy::tokenize_prompts({"red circle moving left, blue square moving down"}, 8); });
  CHECK(too_long.find("has 9 words, more than text_len (8)") != std::string::npos);
  CHECK(error_of([&] {
          toy::one_hot_text_embeddings(tokens, 23);
        }).find("text_dim (23) must be at least 24") != std::string::npos);
  const auto eight_phrases = toy::tokenize_prompts({"red , , , , , , , red"}, 10);
  CHECK(error_of([&] {
          toy::one_hot_text_embeddings(eight_phrases, 32);
        }).find("has 8 phrases, more than 7") != std::string::npos);
}

TEST_CASE("a batch's prompts, ids and embeddings agree", "[toy]") {
  const auto clips = toy::make_toy_clips(2, 10, 5, {});
  REQUIRE(clips.prompts.size() == 5);
  for (int64_t i = 0; i < 5; ++i) {
    const auto ids = toy::tokenize(clips.prompts[static_cast<size_t>(i)]);
    const auto n = static_cast<int64_t>(ids.size());
    CHECK(torch::equal(clips.tokens.ids[i].slice(0, 0, n), torch::tensor(ids, torch::kLong)));
    CHECK(clips.tokens.mask[i].sum().item<int64_t>() == n);
    CHECK(toy::describe(clips.scenes[static_cast<size_t>(i)]) == clips.prompts[static_cast<size_t>(i)]);
  }
  CHECK(clips.text_embeddings.sizes() == torch::IntArrayRef({5, 16, 32}));
}

} // namespace
} // namespace arl2::test
