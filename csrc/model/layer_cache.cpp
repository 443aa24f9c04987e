// LayerCache (see layer_cache.h).
#include "model/layer_cache.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::model {

KVCache& LayerCache::kv_cache(const char* layer) {
  auto* cache = std::get_if<KVCache>(&cache_);
  TORCH_CHECK(cache != nullptr, layer, ": ctx.cache holds a recurrent state, this layer needs a KV cache");
  return *cache;
}

RecurrentState& LayerCache::recurrent_state(const char* layer) {
  auto* state = std::get_if<RecurrentState>(&cache_);
  TORCH_CHECK(state != nullptr, layer, ": ctx.cache holds a KV cache, this layer needs a recurrent state");
  return *state;
}

void LayerCache::bind_context(const at::Tensor& context) {
  if (!context_.defined()) {
    context_ = context;
    return;
  }
  // The same tensor, or (a caller that builds it anew each time) the same values.
  const bool same = context_.is_same(context) ||
                    (context_.sizes() == context.sizes() && context_.scalar_type() == context.scalar_type() &&
                     context_.device() == context.device() && at::equal(context_, context));
  TORCH_CHECK(
      same,
      "WanDiT: context differs from the one these caches were first used with; the caches keep that prompt's "
      "cross-attention keys and values: make new caches (make_caches) for another prompt");
}

LayerCache LayerCache::clone() const {
  LayerCache copy = *this;
  copy.cache_ = std::visit([](const auto& c) { return std::variant<KVCache, RecurrentState>(c.clone()); }, cache_);
  return copy;
}

void LayerCache::keep_graph() {
  std::visit([](auto& c) { c.keep_graph(); }, cache_);
}

int64_t LayerCache::frames_committed() const {
  return std::visit([](const auto& c) { return c.frames_committed(); }, cache_);
}

int64_t LayerCache::tokens_per_frame() const {
  return std::visit([](const auto& c) { return c.tokens_per_frame(); }, cache_);
}

int64_t LayerCache::bytes() const {
  return std::visit([](const auto& c) { return c.bytes(); }, cache_);
}

int64_t LayerCache::bytes_in_use() const {
  return std::visit([](const auto& c) { return c.bytes_in_use(); }, cache_);
}

} // namespace arl2::model
