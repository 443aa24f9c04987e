#include "train/sampler.h"

#include <numeric>
#include <random>

#include <c10/util/Exception.h>

namespace arl2::train {

ShardedSampler::ShardedSampler(int64_t dataset_size, uint64_t seed, int64_t rank, int64_t world_size)
    : size_(dataset_size), seed_(seed), rank_(rank), world_(world_size) {
  TORCH_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "rank ", rank, " of a world of ", world_size);
  per_rank_ = dataset_size / world_size;
  TORCH_CHECK(
      per_rank_ > 0,
      "data: ",
      dataset_size,
      " clips cannot give each of ",
      world_size,
      " ranks one; add clips or use fewer ranks");
  shuffle();
}

void ShardedSampler::shuffle() {
  // A Fisher-Yates shuffle driven by std::mt19937_64 (its output sequence is fixed by the standard), with
  // the swap index reduced by a fixed rule rather than std::uniform_int_distribution (whose algorithm
  // the standard leaves to each library): the same order on every machine and compiler.
  std::mt19937_64 rng(seed_ ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(position_.epoch + 1)));
  order_.resize(size_);
  std::iota(order_.begin(), order_.end(), int64_t{0});
  for (int64_t i = size_ - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order_[i], order_[j]);
  }
}

int64_t ShardedSampler::next() {
  if (position_.index == per_rank_) {
    position_ = {position_.epoch + 1, 0};
    shuffle();
  }
  return order_[position_.index++ * world_ + rank_];
}

void ShardedSampler::set_position(const SamplerPosition& position) {
  TORCH_CHECK(
      position.epoch >= 0 && position.index >= 0 && position.index <= per_rank_,
      "sampler position (epoch ",
      position.epoch,
      ", index ",
      position.index,
      ") does not fit ",
      per_rank_,
      " clips per rank");
  position_ = position;
  shuffle();
}

} // namespace arl2::train
