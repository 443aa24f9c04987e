// What one layer keeps between blocks during generation: its self-attention's KV cache (softmax layers) or
// recurrent state (hybrid layers), and its cross-attention's keys and values of the prompt. Each layer makes
// its own kind (SelfAttentionLayer::make_cache), so a model with both kinds of layers gets one cache per layer
// of the right kind.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <variant>

#include <ATen/core/Tensor.h>

#include "model/kv_cache.h"
#include "model/recurrent_state.h"

namespace arl2::model {

class LayerCache {
 public:
  // Implicit, so that a layer's make_cache returns its kind as it is.
  LayerCache(KVCache cache) : cache_(std::move(cache)) {}
  LayerCache(RecurrentState state) : cache_(std::move(state)) {}

  // The KV cache or the recurrent state; throws naming `layer` when the cache is of the other kind.
  KVCache& kv_cache(const char* layer);
  RecurrentState& recurrent_state(const char* layer);
  // nullptr when of the other kind.
  const KVCache* as_kv_cache() const {
    return std::get_if<KVCache>(&cache_);
  }
  const RecurrentState* as_recurrent_state() const {
    return std::get_if<RecurrentState>(&cache_);
  }

  // The layer's cross-attention keys and values of the prompt [B, Lt, H, D]: one video has one prompt, so
  // they are computed once and read by every later pass (WanDiT::forward_cached holds the caches to the
  // context of its first call). Not counted in bytes(): they do not grow.
  const std::optional<std::pair<at::Tensor, at::Tensor>>& text_kv() const {
    return text_kv_;
  }
  void set_text_kv(at::Tensor k, at::Tensor v) {
    text_kv_.emplace(std::move(k), std::move(v));
  }
  // Records the context of the first call; throws if a later one passes another.
  void bind_context(const at::Tensor& context);
  // Drops the prompt's keys and values and the bound context, keeping the self-attention cache: the next pass binds
  // a new prompt (a session's prompt switch).
  void forget_prompt() {
    text_kv_.reset();
    context_ = at::Tensor();
  }

  // A copy whose self-attention cache holds its own tensors, so that writing one never changes the other (a
  // snapshot of a video's caches at a block boundary); the prompt's keys and values, never written, are shared.
  LayerCache clone() const;
  // From now on the cache's writes keep their autograd graph (KVCache::keep_graph, RecurrentState::keep_graph):
  // the loss of a later block reaches the blocks that wrote it, as training through a window of blocks needs.
  // By default writes are detached, as in Self Forcing.
  void keep_graph();

  int64_t frames_committed() const;
  int64_t tokens_per_frame() const;
  int64_t bytes() const;
  int64_t bytes_in_use() const;

 private:
  std::variant<KVCache, RecurrentState> cache_;
  std::optional<std::pair<at::Tensor, at::Tensor>> text_kv_;
  at::Tensor context_;
};

} // namespace arl2::model
