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

void check_one_hot_text_dim(int64_t text_dim) {
  const auto words = static_cast<int64_t>(vocabulary().size());
  TORCH_CHECK(
      text_dim >= words,
      "toy prompts: text_dim (",
      text_dim,
      ") must be at least the vocabulary size (",
      words,
      ") to give each word its own one-hot vector");
}

at::Tensor one_hot_text_embeddings(const TokenizedPrompts& tokens, int64_t text_dim) {
  check_one_hot_text_dim(text_dim);
  const auto one_hot = at::one_hot(tokens.ids, text_dim).to(at::kFloat);
  return one_hot.mul_(tokens.mask.unsqueeze(-1));
}

} // namespace arl2::toy
