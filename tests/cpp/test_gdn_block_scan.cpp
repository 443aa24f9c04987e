// arl2::gdn_block_scan: the CPU kernel against the float64 token loop, gradients against central
// finite differences, and (tag [cuda]) the CUDA kernels against the float64 CPU path.
#include <torch/torch.h>

#include "arl2/ops.h"
#include "catch.h"
#include "test_util.h"

namespace arl2::test {
namespace {

const std::vector<GdnCase> kCpuCases = {
    {1, 64, 1, 16, 16, 64, 1.0, false},    // one block, one full chunk
    {2, 200, 3, 16, 32, 100, 8.0, true},   // B > 1, blocks of 100, strong decay
    {1, 84, 2, 8, 16, 7, 8.0, true},       // many short blocks
    {1, 4680, 1, 16, 16, 4680, 8.0, false} // the model's block: 73 chunks of 64 and one of 8
};

TEST_CASE("gdn_block_scan CPU matches the float64 token loop", "[gdn_block_scan]") {
  for (const auto& c : kCpuCases) {
    INFO(c.name());
    const auto x = make_inputs(c);
    const auto [ref_states, ref_final] = naive_scan(x, c.block_len);
    const auto h0 = x.h0.defined() ? std::optional<at::Tensor>(x.h0) : std::nullopt;
    SECTION("float64") {
      auto [states, final_state] = arl2::gdn_block_scan(x.k, x.v, x.g, x.beta, c.block_len, h0);
      CHECK(rel_err(states, ref_states) < 1e-12);
      CHECK(rel_err(final_state, ref_final) < 1e-12);
    }
    SECTION("float32") {
      const auto h0_32 = h0 ? std::optional<at::Tensor>(h0->to(torch::kFloat32)) : std::nullopt;
      auto [states, final_state] = arl2::gdn_block_scan(
          x.k.to(torch::kFloat32),
          x.v.to(torch::kFloat32),
          x.g.to(torch::kFloat32),
          x.beta.to(torch::kFloat32),
          c.block_len,
          h0_32);
      CHECK(states.scalar_type() == torch::kFloat32);
      CHECK(rel_err(states, ref_states) < 1e-5);
      CHECK(rel_err(final_state, ref_final) < 1e-5);
    }
  }
}

// A scalar loss that weighs every output element differently, so each gradient entry is exercised.
torch::Tensor scan_loss(
    const GdnInputs& x, int64_t block_len, const torch::Tensor& w_states, const torch::Tensor& w_final) {
  const auto h0 = x.h0.defined() ? std::optional<at::Tensor>(x.h0) : std::nullopt;
  auto [states, final_state] = arl2::gdn_block_scan(x.k, x.v, x.g, x.beta, block_len, h0);
  return (states * w_states).sum() + (final_state * w_final).sum();
}

TEST_CASE("gdn_block_scan gradients match central finite differences", "[gdn_block_scan][grad]") {
  const GdnCase c{2, 6, 2, 3, 4, 3, 4.0, true};
  auto x = make_inputs(c);
  const auto w_states = torch::randn({c.B, c.T / c.block_len, c.H, c.K, c.V}, torch::kFloat64);
  const auto w_final = torch::randn({c.B, c.H, c.K, c.V}, torch::kFloat64);
  std::vector<torch::Tensor*> inputs = {&x.k, &x.v, &x.g, &x.beta, &x.h0};
  const std::vector<std::string> names = {"k", "v", "g", "beta", "initial_state"};
  for (auto* t : inputs) {
    t->requires_grad_(true);
  }
  auto loss = scan_loss(x, c.block_len, w_states, w_final);
  std::vector<torch::Tensor> vars;
  for (auto* t : inputs) {
    vars.push_back(*t);
  }
  const auto grads = torch::autograd::grad({loss}, vars);
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO(names[i]);
    const auto numeric =
        central_differences([&] { return scan_loss(x, c.block_len, w_states, w_final).item<double>(); }, *inputs[i]);
    CHECK(rel_err(grads[i], numeric) < 1e-7);
  }
}

TEST_CASE(
    "gdn_block_scan gives no gradient to an absent initial state and skips unused outputs", "[gdn_block_scan][grad]") {
  const GdnCase c{1, 8, 1, 4, 4, 4, 2.0, false};
  auto x = make_inputs(c);
  x.k.requires_grad_(true);
  auto [states, final_state] = arl2::gdn_block_scan(x.k, x.v, x.g, x.beta, c.block_len);
  // Only final_state is used: the backward must accept an undefined gradient for `states`.
  auto dk = torch::autograd::grad({final_state.sum()}, {x.k})[0];
  CHECK(dk.defined());
  CHECK(torch::isfinite(dk).all().item<bool>());
}

#ifdef ARL2_WITH_CUDA
const std::vector<GdnCase> kCudaCases = {
    {1, 64, 1, 32, 32, 64, 1.0, false},
    {2, 200, 3, 64, 64, 100, 8.0, true},
    {1, 84, 2, 16, 32, 7, 8.0, true},
    {1, 9360, 2, 128, 128, 4680, 8.0, true},
    {1, 4680, 4, 128, 128, 4680, 8.0, false},
};

TEST_CASE("gdn_block_scan CUDA matches the float64 CPU reference", "[gdn_block_scan][cuda]") {
  REQUIRE(torch::cuda::is_available());
  for (const auto& c : kCudaCases) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
      INFO(c.name() << " " << dtype);
      const auto x = make_inputs(c);
      // Round the inputs to the dtype first: the reference then sees exactly what the kernel sees.
      const auto k = x.k.to(dtype), v = x.v.to(dtype);
      GdnInputs xr = x;
      xr.k = k.to(torch::kFloat64);
      xr.v = v.to(torch::kFloat64);
      std::vector<torch::Tensor> ref_inputs = {xr.k, xr.v, xr.g, xr.beta};
      if (xr.h0.defined()) {
        ref_inputs.push_back(xr.h0);
      }
      for (auto& t : ref_inputs) {
        t.requires_grad_(true);
      }
      const auto h0 = xr.h0.defined() ? std::optional<at::Tensor>(xr.h0) : std::nullopt;
      auto [ref_states, ref_final] = arl2::gdn_block_scan(xr.k, xr.v, xr.g, xr.beta, c.block_len, h0);
      const auto d_states = torch::randn_like(ref_states), d_final = torch::randn_like(ref_final);
      const auto ref_grads = torch::autograd::grad({ref_states, ref_final}, ref_inputs, {d_states, d_final});

      auto cuda = [](const torch::Tensor& t, torch::ScalarType dt) {
        return t.detach().to(torch::kCUDA, dt).requires_grad_(true);
      };
      std::vector<torch::Tensor> inputs = {
          cuda(k, dtype), cuda(v, dtype), cuda(x.g, torch::kFloat32), cuda(x.beta, torch::kFloat32)};
      if (xr.h0.defined()) {
        inputs.push_back(cuda(x.h0, torch::kFloat32));
      }
      const auto h0c = xr.h0.defined() ? std::optional<at::Tensor>(inputs[4]) : std::nullopt;
      poison_cuda_outputs({ref_states.sizes().vec(), ref_final.sizes().vec()});
      auto [states, final_state] = arl2::gdn_block_scan(inputs[0], inputs[1], inputs[2], inputs[3], c.block_len, h0c);
      poison_cuda_outputs({k.sizes().vec(), v.sizes().vec(), x.g.sizes().vec(), x.g.sizes().vec()});
      const auto grads = torch::autograd::grad(
          {states, final_state},
          inputs,
          {d_states.to(torch::kCUDA, torch::kFloat32), d_final.to(torch::kCUDA, torch::kFloat32)});

      const bool fp32 = dtype == torch::kFloat32;
      const double tol_state = fp32 ? 1e-4 : 5e-3, tol_grad = fp32 ? 1e-4 : 1e-2;
      CHECK(rel_err(states, ref_states.detach()) < tol_state);
      CHECK(rel_err(final_state, ref_final.detach()) < tol_state);
      const char* names[] = {"dk", "dv", "dg", "dbeta", "d_initial_state"};
      for (size_t i = 0; i < grads.size(); ++i) {
        INFO(names[i]);
        CHECK(rel_err(grads[i], ref_grads[i]) < tol_grad);
      }
    }
  }
}
#endif

} // namespace
} // namespace arl2::test
