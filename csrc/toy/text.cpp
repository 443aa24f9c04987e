// The toy prompts' text input (see text.h).
#include "toy/text.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "toy/prompt.h"

namespace arl2::toy {

TokenizedPrompts tokenize_prompts(const std::vector<std::string>& prompts, int64_t text_len) {
  const auto n = static_cast<int64_t>(prompts.size());
  auto ids = at::full({n, text_len}, kPadId, at::kLong);
  auto* out = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto words = tokenize(prompts[static_cast<size_t>(i)]);
    TORCH_CHECK(
        static_cast<int64_t>(words.size()) <= text_len,
        "toy prompt: '",
        prompts[static_cast<size_t>(i)],
        "' has ",
        words.size(),
        " words, more than text_len (",
        text_len,
        ")");
    std::copy(words.begin(), words.end(), out + i * text_len);
  }
  return {ids, ids.ne(kPadId)};
}

namespace {

// The one-hot vectors of the phrase positions follow those of the words.
int64_t phrase_slot_offset() {
  return static_cast<int64_t>(vocabulary().size());
}

} // namespace

int64_t min_text_dim() {
  return phrase_slot_offset() + kMaxPhrases;
}

void check_one_hot_text_dim(int64_t text_dim) {
  TORCH_CHECK(
      text_dim >= min_text_dim(),
      "toy prompts: text_dim (",
      text_dim,
      ") must be at least ",
      min_text_dim(),
      ": a one-hot vector for each of the ",
      vocabulary().size(),
      " words and for each of the ",
      kMaxPhrases,
      " phrase positions");
}

at::Tensor one_hot_text_embeddings(const TokenizedPrompts& tokens, int64_t text_dim) {
  check_one_hot_text_dim(text_dim);
  // A token's phrase is the number of commas before it (a comma closes its phrase).
  const auto commas = tokens.ids.eq(kCommaId).to(at::kLong);
  const auto phrase = (commas.cumsum(1) - commas).mul_(tokens.mask); // padding rows are zeroed below
  const int64_t most = phrase.numel() == 0 ? 0 : phrase.max().item<int64_t>();
  TORCH_CHECK(most < kMaxPhrases, "toy prompts: a prompt has ", most + 1, " phrases, more than ", kMaxPhrases);
  const auto words = at::one_hot(tokens.ids, text_dim);
  const auto positions = at::one_hot(phrase + phrase_slot_offset(), text_dim);
  return (words + positions).to(at::kFloat).mul_(tokens.mask.unsqueeze(-1));
}

} // namespace arl2::toy
