// Toy prompts as the model's text input: token ids padded to a fixed length with a mask, and a fixed embedding of
// them into the model's text_dim.
//
// Why one-hot vectors: the model's text embedding starts with a Linear(text_dim, dim) (model/wan_dit.h), and a
// one-hot row through it picks one column of the weight, plus the bias. That Linear is then exactly a learned table
// with one row per word, trained with the rest of the model and stored under Wan's own parameter names, so the toy
// domain needs no new parameter, and shards keep the `text_embeddings` [N, L, D] that train/clip_dataset.h reads.
// Padding rows are zero, as Wan pads its text encoder's output. The ids and mask are stored too, for a model that
// embeds ids itself.
//
// Why a phrase position too: cross-attention sees its keys as a set, and a set of one-hot words loses which
// colour goes with which shape and motion ("red circle moving left, blue square moving down" and "blue circle
// moving left, red square moving down" would be one input). Wan's text encoder gives each token its context; here
// each row adds the one-hot vector of its phrase (the sprite it describes), so the Linear learns a word table
// plus a phrase table, as a transformer adds a position embedding to its token embedding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "toy/scene.h"

namespace arl2::toy {

struct TokenizedPrompts {
  at::Tensor ids;  // [N, text_len] int64, kPadId after each prompt's words
  at::Tensor mask; // [N, text_len] bool, true on the words
};

// Throws naming a prompt with more than `text_len` words, or a word outside the vocabulary.
TokenizedPrompts tokenize_prompts(const std::vector<std::string>& prompts, int64_t text_len);

// A scene has at most one sprite per palette colour, so a prompt at most this many phrases.
inline constexpr int64_t kMaxPhrases = static_cast<int64_t>(kColours.size());

// The smallest text_dim: a one-hot vector for every word and every phrase position.
int64_t min_text_dim();

// Throws unless `text_dim` is at least min_text_dim().
void check_one_hot_text_dim(int64_t text_dim);

// [N, text_len, text_dim] float32: row t of a prompt is the one-hot vector of its id t plus that of its phrase
// (the commas before it), and zero on padding. Checks text_dim as check_one_hot_text_dim does, and throws on a
// prompt of more than kMaxPhrases phrases.
at::Tensor one_hot_text_embeddings(const TokenizedPrompts& tokens, int64_t text_dim);

} // namespace arl2::toy
