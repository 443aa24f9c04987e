// Test helpers for the ops: GDN inputs shaped as an ARL2 layer produces them, an independent float64
// token loop written with plain tensor ops, the relative error metric, central finite differences, and
// output poisoning on CUDA.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace arl2::test {

struct GdnCase {
  int64_t B, T, H, K, V, block_len;
  double max_log_decay; // g is drawn from [-max_log_decay, 0]
  bool initial_state;
  std::string name() const {
    std::ostringstream os;
    os << "B" << B << "-T" << T << "-H" << H << "-K" << K << "-V" << V << "-L" << block_len << "-g" << max_log_decay
       << (initial_state ? "-h0" : "");
    return os.str();
  }
};

struct GdnInputs {
  torch::Tensor q, k, v, g, beta, h0; // float64 on the CPU; h0 undefined without an initial state
};

// L2-normalised q and k, beta in (0, 2), log-decay g in [-max, 0] with a tenth of tokens at g = 0
// (the gate-equals-one corner case) and, for strong decay, some tokens at the extreme.
inline GdnInputs make_inputs(const GdnCase& c) {
  auto opts = torch::dtype(torch::kFloat64);
  GdnInputs x;
  x.q = torch::nn::functional::normalize(
      torch::randn({c.B, c.T, c.H, c.K}, opts), torch::nn::functional::NormalizeFuncOptions().dim(-1));
  x.k = torch::nn::functional::normalize(
      torch::randn({c.B, c.T, c.H, c.K}, opts), torch::nn::functional::NormalizeFuncOptions().dim(-1));
  x.v = torch::randn({c.B, c.T, c.H, c.V}, opts);
  x.g = -c.max_log_decay * torch::rand({c.B, c.T, c.H}, opts).pow(3);
  x.g.masked_fill_(torch::rand({c.B, c.T, c.H}, opts) < 0.1, 0.0);
  x.beta = 2.0 * torch::sigmoid(torch::randn({c.B, c.T, c.H}, opts));
  if (c.initial_state) {
    x.h0 = torch::randn({c.B, c.H, c.K, c.V}, opts);
  }
  return x;
}

// The definition, (1)-(3) of ops/specs/gdn_block_scan.md, in float64 with batched tensor ops.
inline std::pair<torch::Tensor, torch::Tensor> naive_scan(const GdnInputs& x, int64_t block_len) {
  const auto B = x.k.size(0), T = x.k.size(1), H = x.k.size(2), K = x.k.size(3), V = x.v.size(3);
  auto S = x.h0.defined() ? x.h0.clone() : torch::zeros({B, H, K, V}, x.k.options());
  std::vector<torch::Tensor> states;
  for (int64_t t = 0; t < T; ++t) {
    if (t % block_len == 0) {
      states.push_back(S.clone());
    }
    S = S * x.g.select(1, t).exp().view({B, H, 1, 1});
    auto k_t = x.k.select(1, t), v_t = x.v.select(1, t);
    auto p = torch::matmul(S.transpose(-1, -2), k_t.unsqueeze(-1)).squeeze(-1);
    auto u = x.beta.select(1, t).unsqueeze(-1) * (v_t - p);
    S = S + k_t.unsqueeze(-1) * u.unsqueeze(-2);
  }
  return {torch::stack(states, 1), S};
}

inline torch::Tensor naive_read(const torch::Tensor& q, const torch::Tensor& states, int64_t block_len, double scale) {
  const auto B = q.size(0), T = q.size(1), H = q.size(2), K = q.size(3);
  auto qb = q.view({B, T / block_len, block_len, H, K}).permute({0, 1, 3, 2, 4}); // [B, NB, H, L, K]
  auto o = scale * torch::matmul(qb, states);                                     // [B, NB, H, L, V]
  return o.permute({0, 1, 3, 2, 4}).reshape({B, T, H, states.size(-1)});
}

// ||x - ref|| / ||ref|| in float64; NaN if x holds any non-finite value.
inline double rel_err(const torch::Tensor& x, const torch::Tensor& ref) {
  auto xd = x.to(torch::kCPU, torch::kFloat64), rd = ref.to(torch::kCPU, torch::kFloat64);
  if (!torch::isfinite(xd).all().item<bool>()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double denom = rd.norm().item<double>();
  const double num = (xd - rd).norm().item<double>();
  return denom > 0 ? num / denom : num;
}

// d loss / d x by central differences, one element at a time (float64, small tensors only).
inline torch::Tensor central_differences(const std::function<double()>& loss, torch::Tensor& x, double eps = 1e-6) {
  torch::NoGradGuard no_grad;
  auto flat = x.view({-1});
  auto numeric = torch::zeros_like(flat);
  for (int64_t e = 0; e < flat.numel(); ++e) {
    const double orig = flat[e].item<double>();
    flat[e] = orig + eps;
    const double up = loss();
    flat[e] = orig - eps;
    const double down = loss();
    flat[e] = orig;
    numeric[e] = (up - down) / (2 * eps);
  }
  return numeric.view_as(x);
}

// Fills free blocks of the caching allocator, of these shapes in 4-byte words, with all-ones bits (NaN
// as float32, bfloat16 and float16), so an op output that reuses one and leaves an element unwritten
// fails the comparison instead of passing on stale data.
inline void poison_cuda_outputs(const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<torch::Tensor> blocks;
  for (const auto& s : shapes) {
    blocks.push_back(torch::full(s, -1, torch::dtype(torch::kInt32).device(torch::kCUDA)));
  }
}

} // namespace arl2::test
