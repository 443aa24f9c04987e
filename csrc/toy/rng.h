// The toy domain's random numbers: SplitMix64 (Steele, Lea and Flood, 2014) and the few draws built on it.
// std:: distributions are avoided on purpose: their output is implementation-defined, and a seed must give the
// same clips bit for bit with any standard library.
#pragma once

#include <cstdint>

namespace arl2::toy {

// SplitMix64's output function: a bijective mix of 64 bits, used on its own to derive independent seeds.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return mix64(state_);
  }
  // In [0, 1): the top 53 bits scaled by 2^-53, exact in a double.
  double uniform() {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
  }
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * uniform();
  }
  // In [0, n). The modulo's bias (at most n / 2^64) is far below anything the toy domain could show.
  int64_t below(int64_t n) {
    return static_cast<int64_t>(next() % static_cast<uint64_t>(n));
  }
  // -1 or +1.
  double sign() {
    return (next() >> 63) != 0 ? -1.0 : 1.0;
  }

 private:
  uint64_t state_;
};

// The stream of clip `clip` under `seed`: each clip has its own, so a clip is the same whichever shard size,
// order or subset generates it.
inline SplitMix64 clip_rng(uint64_t seed, int64_t clip) {
  return SplitMix64(mix64(mix64(seed) + static_cast<uint64_t>(clip)));
}

} // namespace arl2::toy
