// A toy scene in words, from a vocabulary of 16 words: "red circle moving left, blue square moving down", one phrase
// per sprite in the scene's canonical order, the direction from the dominant component of its velocity at
// frame 0. The tokenizer maps those words to fixed ids; parse_prompt reads a prompt back, so tests and eval can
// compare what a prompt says with the scene it came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "toy/scene.h"

namespace arl2::toy {

// Id 0 pads a prompt to the text length and is no word; id 1 is the comma between two sprites' phrases.
inline constexpr int64_t kPadId = 0;
inline constexpr int64_t kCommaId = 1;

// The vocabulary in id order: padding, ",", "moving", then the colours, shapes and directions in the order of
// kColours, kShapeNames and kDirectionNames. Fixed: ids in stored shards depend on it.
const std::vector<std::string>& vocabulary();

// What one phrase of a prompt says about its sprite.
struct SpriteWords {
  int colour = 0; // index into kColours
  Shape shape = Shape::kCircle;
  Direction direction = Direction::kLeft;
};

std::string describe(const Scene& scene);

// The words of `scene`'s sprites, in its order (what describe() writes).
std::vector<SpriteWords> words_of(const Scene& scene);

// The ids of the prompt's words: words are separated by spaces, and a comma is a word of its own. Throws naming
// the first word that is not in the vocabulary.
std::vector<int64_t> tokenize(std::string_view prompt);

// The sprites a prompt describes; throws naming what is out of place when it does not read
// "<colour> <shape> moving <direction>[, ...]".
std::vector<SpriteWords> parse_prompt(std::string_view prompt);

// The token count of the longest prompt of a scene with `sprites` sprites.
int64_t longest_prompt_tokens(int64_t sprites);

} // namespace arl2::toy
