// KVCache (see kv_cache.h).
#include "model/kv_cache.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::model {
namespace {

at::Tensor empty_cache(int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, const at::TensorOptions& o) {
  TORCH_CHECK(batch > 0 && heads > 0 && head_dim > 0, "KVCache: batch, heads and head_dim must be positive");
  return at::zeros({batch, tokens, heads, head_dim}, o);
}

} // namespace

KVCache::KVCache(at::Tensor k, at::Tensor v, int64_t tokens_per_frame, int64_t sink_tokens, bool rolling)
    : k_(std::move(k)),
      v_(std::move(v)),
      tokens_per_frame_(tokens_per_frame),
      sink_tokens_(sink_tokens),
      rolling_(rolling) {}

KVCache KVCache::preallocated(
    int64_t batch,
    int64_t max_frames,
    int64_t tokens_per_frame,
    int64_t heads,
    int64_t head_dim,
    const at::TensorOptions& options) {
  TORCH_CHECK(max_frames > 0, "KVCache: max_frames (", max_frames, ") must be positive");
  TORCH_CHECK(tokens_per_frame > 0, "KVCache: tokens_per_frame (", tokens_per_frame, ") must be positive");
  const int64_t tokens = max_frames * tokens_per_frame;
  return KVCache(
      empty_cache(batch, tokens, heads, head_dim, options),
      empty_cache(batch, tokens, heads, head_dim, options),
      tokens_per_frame,
      0,
      false);
}

KVCache KVCache::rolling(
    int64_t batch,
    int64_t window_frames,
    int64_t sink_frames,
    int64_t tokens_per_frame,
    int64_t heads,
    int64_t head_dim,
    const at::TensorOptions& options) {
  TORCH_CHECK(tokens_per_frame > 0, "KVCache: tokens_per_frame (", tokens_per_frame, ") must be positive");
  TORCH_CHECK(
      sink_frames >= 0 && window_frames > sink_frames,
      "KVCache: window_frames (",
      window_frames,
      ") must exceed sink_frames (",
      sink_frames,
      ") >= 0");
  const int64_t tokens = window_frames * tokens_per_frame;
  return KVCache(
      empty_cache(batch, tokens, heads, head_dim, options),
      empty_cache(batch, tokens, heads, head_dim, options),
      tokens_per_frame,
      sink_frames * tokens_per_frame,
      true);
}

std::pair<at::Tensor, at::Tensor> KVCache::visible(int64_t new_tokens) const {
  if (!rolling_ || length_ + new_tokens <= capacity()) {
    TORCH_CHECK(
        length_ + new_tokens <= capacity(),
        "KVCache: a block of ",
        new_tokens,
        " tokens after the ",
        length_,
        " cached ones exceeds the cache's ",
        capacity(),
        " tokens; preallocate more frames");
    return {k_.narrow(1, 0, length_), v_.narrow(1, 0, length_)};
  }
  const int64_t recent = capacity() - new_tokens - sink_tokens_;
  TORCH_CHECK(
      recent >= 0,
      "KVCache: a block of ",
      new_tokens,
      " tokens does not fit the rolling window of ",
      capacity(),
      " tokens next to ",
      sink_tokens_,
      " sink tokens");
  const auto pick = [&](const at::Tensor& t) {
    return at::cat({t.narrow(1, 0, sink_tokens_), t.narrow(1, length_ - recent, recent)}, 1);
  };
  return {pick(k_), pick(v_)};
}

std::pair<at::Tensor, at::Tensor> KVCache::with_block(const at::Tensor& k, const at::Tensor& v) {
  check_block(k, v);
  const int64_t n = k.size(1);
  if (keeps_graph_ || length_ + n > capacity()) {
    const auto [k_past, v_past] = visible(n);
    return {at::cat({k_past, k}, 1), at::cat({v_past, v}, 1)};
  }
  // Through a detached alias: the copy joins the autograd graph of the returned view only, so the
  // block's gradient flows and the cache's buffers never hold a graph.
  const auto staged = [&](const at::Tensor& buffer, const at::Tensor& x) {
    auto all = buffer.detach().narrow(1, 0, length_ + n);
    all.narrow(1, length_, n).copy_(x);
    return all;
  };
  return {staged(k_, k), staged(v_, v)};
}

void KVCache::check_block(const at::Tensor& k, const at::Tensor& v) const {
  TORCH_CHECK(
      k.dim() == 4 && k.size(0) == k_.size(0) && k.size(2) == k_.size(2) && k.size(3) == k_.size(3),
      "KVCache: k must be [",
      k_.size(0),
      ", n, ",
      k_.size(2),
      ", ",
      k_.size(3),
      "], got ",
      k.sizes());
  TORCH_CHECK(v.sizes() == k.sizes(), "KVCache: v must have k's shape ", k.sizes(), ", got ", v.sizes());
}

void KVCache::append(const at::Tensor& k, const at::Tensor& v) {
  check_block(k, v);
  const int64_t n = k.size(1);
  TORCH_CHECK(
      n % tokens_per_frame_ == 0,
      "KVCache: a block of ",
      n,
      " tokens is not a whole number of frames of ",
      tokens_per_frame_,
      " tokens");
  if (rolling_ && length_ + n > capacity()) {
    TORCH_CHECK(
        n <= capacity() - sink_tokens_,
        "KVCache: a block of ",
        n,
        " tokens does not fit the rolling window of ",
        capacity(),
        " tokens next to ",
        sink_tokens_,
        " sink tokens");
    // Shift the non-sink tokens left over the evicted ones; the source and target overlap, hence
    // the copy.
    const int64_t evict = length_ + n - capacity();
    const int64_t kept = length_ - sink_tokens_ - evict;
    for (auto* t : {&k_, &v_}) {
      t->narrow(1, sink_tokens_, kept).copy_(t->narrow(1, sink_tokens_ + evict, kept).clone());
    }
    length_ -= evict;
  }
  TORCH_CHECK(
      length_ + n <= capacity(),
      "KVCache: appending ",
      n,
      " tokens to the ",
      length_,
      " cached ones exceeds the cache's ",
      capacity(),
      " tokens; preallocate more frames");
  k_.narrow(1, length_, n).copy_(keeps_graph_ ? k : k.detach());
  v_.narrow(1, length_, n).copy_(keeps_graph_ ? v : v.detach());
  length_ += n;
  frames_committed_ += n / tokens_per_frame_;
}

std::pair<at::Tensor, at::Tensor> KVCache::committed() const {
  return {k_.narrow(1, 0, length_), v_.narrow(1, 0, length_)};
}

void KVCache::restore(const at::Tensor& k, const at::Tensor& v, int64_t frames_committed) {
  check_block(k, v);
  const int64_t n = k.size(1);
  TORCH_CHECK(
      n % tokens_per_frame_ == 0 && n <= capacity(),
      "KVCache: restoring ",
      n,
      " tokens, which must be a whole number of frames of ",
      tokens_per_frame_,
      " tokens within the cache's ",
      capacity());
  TORCH_CHECK(
      frames_committed >= n / tokens_per_frame_,
      "KVCache: restoring ",
      n / tokens_per_frame_,
      " frames as the last of ",
      frames_committed,
      " committed");
  TORCH_CHECK(
      k.scalar_type() == k_.scalar_type() && v.scalar_type() == k_.scalar_type(),
      "KVCache: restoring ",
      k.scalar_type(),
      " keys and values into a ",
      k_.scalar_type(),
      " cache");
  k_.narrow(1, 0, n).copy_(k.detach());
  v_.narrow(1, 0, n).copy_(v.detach());
  length_ = n;
  frames_committed_ = frames_committed;
}

KVCache KVCache::clone() const {
  KVCache copy = *this;
  copy.k_ = k_.clone();
  copy.v_ = v_.clone();
  return copy;
}

} // namespace arl2::model
