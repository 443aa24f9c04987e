// The order in which a data-parallel run visits the clips: every epoch a permutation of all clips drawn
// from (seed, epoch), cut into rank-strided shares (rank r takes positions r, r + W, r + 2W, ... of it,
// the tail that does not divide by W dropped, so every rank takes the same number of steps). The
// position is two integers, so a checkpoint that saves them resumes exactly where the run stopped.
#pragma once

#include <cstdint>
#include <vector>

namespace arl2::train {

struct SamplerPosition {
  int64_t epoch = 0;
  int64_t index = 0; // next position within this rank's share of the epoch
};

class ShardedSampler {
 public:
  ShardedSampler(int64_t dataset_size, uint64_t seed, int64_t rank, int64_t world_size);

  // The next clip for this rank, moving to the next epoch (a new permutation) after the last.
  int64_t next();
  const SamplerPosition& position() const {
    return position_;
  }
  void set_position(const SamplerPosition& position);
  int64_t per_rank() const {
    return per_rank_;
  }

 private:
  void shuffle();
  int64_t size_;
  uint64_t seed_;
  int64_t rank_, world_;
  int64_t per_rank_;
  SamplerPosition position_;
  std::vector<int64_t> order_; // this epoch's permutation
};

} // namespace arl2::train
