// Helpers of the generation tests (test_generator.cpp, test_session.cpp): small blocks, tiny models (teacher or
// hybrid) with random weights, and the comparison of tensors bit for bit.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "inference/generator_options.h"
#include "model/conversion.h"
#include "model_test_util.h"

namespace arl2::test {

// Blocks of 2 latent frames of 4 x 6 (2 x 3 patches).
inline inference::GeneratorOptions tiny_options() {
  inference::GeneratorOptions o;
  o.frames_per_block = 2;
  o.latent_height = 4;
  o.latent_width = 6;
  return o;
}

inline std::shared_ptr<model::WanDiT> tiny_model(torch::Dtype dtype, double hybrid_ratio) {
  auto dit = random_tiny(dtype);
  if (hybrid_ratio > 0) {
    model::HybridOptions h;
    h.ratio = hybrid_ratio;
    model::convert_to_hybrid(*dit, h);
    randomize(*dit); // the new parameters too, so that the memory path shows in the output
  }
  return dit;
}

// Whether a[i] and b[i] are equal, bit for bit, for every i.
inline bool all_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) {
      return false;
    }
  }
  return true;
}

} // namespace arl2::test
