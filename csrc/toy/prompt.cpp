// Prompts of toy scenes (see prompt.h).
#include "toy/prompt.h"

#include <c10/util/Exception.h>

namespace arl2::toy {
namespace {

constexpr int64_t kMovingId = 2;
constexpr int64_t kFirstColourId = 3;
constexpr int64_t kFirstShapeId = kFirstColourId + static_cast<int64_t>(kColours.size());
constexpr int64_t kFirstDirectionId = kFirstShapeId + static_cast<int64_t>(kShapeNames.size());
constexpr int64_t kWordsPerSprite = 4; // colour, shape, "moving", direction

std::string vocabulary_list() {
  std::string list;
  for (size_t i = 1; i < vocabulary().size(); ++i) {
    list += (i > 1 ? " " : "") + vocabulary()[i];
  }
  return list;
}

// The index of `id` in the group of `count` ids starting at `first`, or -1.
int64_t index_in(int64_t id, int64_t first, size_t count) {
  return id >= first && id < first + static_cast<int64_t>(count) ? id - first : -1;
}

} // namespace

const std::vector<std::string>& vocabulary() {
  static const std::vector<std::string> words = [] {
    std::vector<std::string> w = {"<pad>", ",", "moving"};
    for (const auto& c : kColours) {
      w.emplace_back(c.name);
    }
    for (const auto name : kShapeNames) {
      w.emplace_back(name);
    }
    for (const auto name : kDirectionNames) {
      w.emplace_back(name);
    }
    return w;
  }();
  return words;
}

std::vector<SpriteWords> words_of(const Scene& scene) {
  std::vector<SpriteWords> words;
  for (const auto& s : scene.sprites) {
    words.push_back({s.colour, s.shape, direction_of(s.start)});
  }
  return words;
}

std::string describe(const Scene& scene) {
  std::string prompt;
  for (const auto& w : words_of(scene)) {
    prompt += prompt.empty() ? "" : ", ";
    prompt += std::string(kColours[static_cast<size_t>(w.colour)].name) + " " +
              std::string(kShapeNames[static_cast<size_t>(w.shape)]) + " moving " +
              std::string(kDirectionNames[static_cast<size_t>(w.direction)]);
  }
  return prompt;
}

std::vector<int64_t> tokenize(std::string_view prompt) {
  const auto& vocab = vocabulary();
  std::vector<int64_t> ids;
  auto add = [&](std::string_view word) {
    for (size_t id = 1; id < vocab.size(); ++id) {
      if (vocab[id] == word) {
        ids.push_back(static_cast<int64_t>(id));
        return;
      }
    }
    TORCH_CHECK(
        false, "toy prompt: unknown word '", word, "' in '", prompt, "'; the vocabulary is: ", vocabulary_list());
  };
  size_t start = 0;
  for (size_t i = 0; i <= prompt.size(); ++i) {
    const bool end = i == prompt.size() || prompt[i] == ' ' || prompt[i] == ',';
    if (!end) {
      continue;
    }
    if (i > start) {
      add(prompt.substr(start, i - start));
    }
    if (i < prompt.size() && prompt[i] == ',') {
      add(",");
    }
    start = i + 1;
  }
  return ids;
}

std::vector<SpriteWords> parse_prompt(std::string_view prompt) {
  const auto ids = tokenize(prompt);
  const auto& vocab = vocabulary();
  std::vector<SpriteWords> sprites;
  size_t i = 0;
  // The word at position `i`, checked to be of the kind `what`, as its index within that kind.
  auto expect = [&](int64_t first, size_t count, const char* what) {
    const int64_t id = i < ids.size() ? ids[i] : -1;
    const int64_t index = index_in(id, first, count);
    TORCH_CHECK(
        index >= 0,
        "toy prompt: expected ",
        what,
        " as word ",
        i + 1,
        " of '",
        prompt,
        "', got ",
        id < 0 ? std::string("the end") : "'" + vocab[static_cast<size_t>(id)] + "'");
    ++i;
    return index;
  };
  do {
    if (!sprites.empty()) {
      expect(kCommaId, 1, "','");
    }
    SpriteWords w;
    w.colour = static_cast<int>(expect(kFirstColourId, kColours.size(), "a colour"));
    w.shape = static_cast<Shape>(expect(kFirstShapeId, kShapeNames.size(), "a shape"));
    expect(kMovingId, 1, "'moving'");
    w.direction = static_cast<Direction>(expect(kFirstDirectionId, kDirectionNames.size(), "a direction"));
    sprites.push_back(w);
  } while (i < ids.size());
  return sprites;
}

int64_t longest_prompt_tokens(int64_t sprites) {
  return sprites * kWordsPerSprite + (sprites - 1);
}

} // namespace arl2::toy
