// Helpers of the model tests (test_wan_model.cpp, test_hybrid_model.cpp): tiny models with random
// weights, a clip to run them on and error capture (and, through temp_dir.h, a temporary directory).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "model/config.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "temp_dir.h"

namespace arl2::test {

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Random values of the scale a trained model has for every parameter of `m`, so every path shows in
// the output (a fresh Wan model predicts zeros: Wan zeroes the output head).
inline void randomize(torch::nn::Module& m) {
  model::draw_random_weights(m);
}

inline std::shared_ptr<model::WanDiT> random_tiny(torch::Dtype dtype) {
  auto m = std::make_shared<model::WanDiT>(model::model_preset("tiny"), torch::dtype(dtype));
  randomize(*m);
  return m;
}

struct Clip {
  torch::Tensor noisy, clean, noisy_t, clean_t, context;
};

// B = 2 clips of 6 latent frames of 4 x 6 (2 x 3 patches), blocks of 2 frames; the noisy timesteps
// are one value per block, as generation uses them; the clean ones are 0.
inline Clip make_clip(torch::Dtype dtype) {
  const auto o = torch::dtype(dtype);
  Clip c;
  c.noisy = torch::randn({2, 16, 6, 4, 6}, o);
  c.clean = torch::randn({2, 16, 6, 4, 6}, o);
  c.noisy_t = (torch::rand({2, 3, 1}) * 1000).expand({2, 3, 2}).reshape({2, 6});
  c.clean_t = torch::zeros({2, 6});
  c.context = torch::randn({2, 5, 32}, o); // shorter than text_len: padded like Wan
  return c;
}

inline torch::Tensor frames(const torch::Tensor& x, int64_t start, int64_t n) {
  return x.narrow(2, start, n);
}

} // namespace arl2::test
