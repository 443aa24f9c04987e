// arl2::gdn_block_read: CPU against the float64 block matmul, gradients against finite differences,
// and (tag [cuda]) CUDA against the float64 CPU path.
#include <torch/torch.h>

#include "arl2/ops.h"
#include "catch.h"
#include "test_util.h"

namespace arl2::test {
namespace {

TEST_CASE("gdn_block_read CPU matches the float64 reference", "[gdn_block_read]") {
  for (const GdnCase& c : {GdnCase{2, 200, 3, 16, 32, 100, 1, false}, GdnCase{1, 84, 2, 8, 16, 7, 1, false}}) {
    INFO(c.name());
    const auto x = make_inputs(c);
    const auto states = torch::randn({c.B, c.T / c.block_len, c.H, c.K, c.V}, torch::kFloat64);
    const double scale = 1.0 / std::sqrt(double(c.K));
    const auto ref = naive_read(x.q, states, c.block_len, scale);
    CHECK(rel_err(arl2::gdn_block_read(x.q, states, c.block_len, scale), ref) < 1e-13);
    const auto o32 = arl2::gdn_block_read(x.q.to(torch::kFloat32), states.to(torch::kFloat32), c.block_len, scale);
    CHECK(o32.scalar_type() == torch::kFloat32);
    CHECK(rel_err(o32, ref) < 1e-6);
    const auto o16 = arl2::gdn_block_read(x.q.to(torch::kBFloat16), states.to(torch::kFloat32), c.block_len, scale);
    CHECK(o16.scalar_type() == torch::kBFloat16);
    CHECK(rel_err(o16, ref) < 1e-2);
  }
}

TEST_CASE("gdn_block_read gradients match central finite differences", "[gdn_block_read][grad]") {
  const GdnCase c{2, 6, 2, 3, 4, 2, 1, false};
  auto q = make_inputs(c).q.requires_grad_(true);
  auto states = torch::randn({c.B, c.T / c.block_len, c.H, c.K, c.V}, torch::kFloat64).requires_grad_(true);
  const auto w = torch::randn({c.B, c.T, c.H, c.V}, torch::kFloat64);
  auto loss = [&] { return (arl2::gdn_block_read(q, states, c.block_len, 0.7) * w).sum(); };
  const auto grads = torch::autograd::grad({loss()}, {q, states});
  const auto value = [&] { return loss().item<double>(); };
  CHECK(rel_err(grads[0], central_differences(value, q)) < 1e-8);
  CHECK(rel_err(grads[1], central_differences(value, states)) < 1e-8);
}

#ifdef ARL2_WITH_CUDA
TEST_CASE("gdn_block_read CUDA matches the float64 CPU reference", "[gdn_block_read][cuda]") {
  REQUIRE(torch::cuda::is_available());
  for (const GdnCase& c :
       {GdnCase{2, 200, 3, 64, 64, 100, 1, false},
        GdnCase{1, 84, 2, 16, 32, 7, 1, false},
        GdnCase{1, 9360, 4, 128, 128, 4680, 1, false}}) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
      INFO(c.name() << " " << dtype);
      const auto q = make_inputs(c).q.to(dtype);
      const auto states = torch::randn({c.B, c.T / c.block_len, c.H, c.K, c.V}, torch::kFloat64);
      const double scale = 1.0 / std::sqrt(double(c.K));
      auto qr = q.to(torch::kFloat64).requires_grad_(true);
      auto sr = states.clone().requires_grad_(true);
      const auto ref = arl2::gdn_block_read(qr, sr, c.block_len, scale);
      const auto d_o = torch::randn_like(ref);
      const auto ref_grads = torch::autograd::grad({ref}, {qr, sr}, {d_o});

      auto qc = q.to(torch::kCUDA).requires_grad_(true);
      auto sc = states.to(torch::kCUDA, torch::kFloat32).requires_grad_(true);
      poison_cuda_outputs({ref.sizes().vec()});
      const auto o = arl2::gdn_block_read(qc, sc, c.block_len, scale);
      poison_cuda_outputs({q.sizes().vec(), states.sizes().vec()});
      const auto grads = torch::autograd::grad({o}, {qc, sc}, {d_o.to(torch::kCUDA, dtype)});
      const bool fp32 = dtype == torch::kFloat32;
      CHECK(rel_err(o, ref.detach()) < (fp32 ? 1e-4 : 5e-3));
      CHECK(rel_err(grads[0], ref_grads[0]) < (fp32 ? 1e-4 : 1e-2));
      CHECK(rel_err(grads[1], ref_grads[1]) < (fp32 ? 1e-4 : 1e-2));
    }
  }
}

// The gated form at the model's widths: K = V = 128 is two 64-column output tiles, each with its own slice of
// the residual, and a generated block of 4680 tokens ends in a partial token tile.
TEST_CASE("gated gdn_block_read CUDA matches the float64 reference", "[gdn_block_read][cuda]") {
  REQUIRE(torch::cuda::is_available());
  for (const GdnCase& c : {GdnCase{1, 9360, 3, 128, 128, 4680, 1, false}, GdnCase{2, 200, 3, 64, 32, 100, 1, false}}) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      INFO(c.name() << " " << dtype);
      const auto q = make_inputs(c).q.to(dtype).to(torch::kFloat64);
      const auto states = torch::randn({c.B, c.T / c.block_len, c.H, c.K, c.V}, torch::kFloat64);
      const auto residual = torch::randn({c.B, c.T, c.H, c.V}, torch::kFloat64).to(dtype).to(torch::kFloat64);
      const auto gate = torch::rand({c.B, c.T, c.H}, torch::kFloat64).to(dtype).to(torch::kFloat64);
      const double scale = 1.0 / std::sqrt(double(c.K));
      std::vector<torch::Tensor> ref_in{residual, gate, q, states};
      for (auto& t : ref_in)
        t = t.clone().requires_grad_(true);
      const auto ref = ref_in[0] + ref_in[1].unsqueeze(-1) * naive_read(ref_in[2], ref_in[3], c.block_len, scale);
      const auto d_o = torch::randn_like(ref).to(dtype).to(torch::kFloat64);
      const auto ref_grads = torch::autograd::grad({ref}, ref_in, {d_o});

      std::vector<torch::Tensor> in{residual, gate, q, states};
      for (size_t i = 0; i < in.size(); ++i)
        in[i] = in[i].to(torch::kCUDA, i == 3 ? torch::kFloat32 : dtype).requires_grad_(true);
      poison_cuda_outputs({ref.sizes().vec()});
      const auto o = arl2::detail::gdn_block_read_gated(in[0], in[1], in[2], in[3], c.block_len, scale);
      const auto grads = torch::autograd::grad({o}, in, {d_o.to(torch::kCUDA, dtype)});
      const bool fp32 = dtype == torch::kFloat32;
      CHECK(rel_err(o, ref.detach()) < (fp32 ? 1e-4 : 5e-3));
      for (size_t i = 0; i < grads.size(); ++i) {
        INFO("gradient " << i);
        CHECK(rel_err(grads[i], ref_grads[i]) < (fp32 ? 1e-4 : 1e-2));
      }
    }
  }
}
#endif

} // namespace
} // namespace arl2::test
