// The row-wise fused ops (rms_norm, layer_norm_modulate, gated_residual): the CPU kernels against a
// float64 row loop over ops/specs/row_ops.md (1)-(3), the composite backwards against central
// finite differences, errors that name the argument, and (tag [cuda]) CUDA against the float64 CPU path.
#include <cmath>

#include <torch/torch.h>

#include "arl2/ops.h"
#include "catch.h"
#include "model_test_util.h"
#include "test_util.h"

namespace arl2::test {
namespace {

constexpr double kEps = 1e-6;

// The three ops' inputs: x, y [B, F * T, C]; weight [C]; shift, scale, gate the slices of a
// [B, F, 6, C] modulation tensor, as a DiT block passes them.
struct RowInputs {
  torch::Tensor x, y, weight, modulation;
  torch::Tensor shift() const {
    return modulation.select(2, 0);
  }
  torch::Tensor scale() const {
    return modulation.select(2, 1);
  }
  torch::Tensor gate() const {
    return modulation.select(2, 2);
  }
  RowInputs to(torch::Device device, torch::ScalarType dtype) const {
    return {x.to(device, dtype), y.to(device, dtype), weight.to(device, dtype), modulation.to(device, dtype)};
  }
};

RowInputs make_row_inputs(int64_t B, int64_t F, int64_t T, int64_t C) {
  const auto f64 = torch::dtype(torch::kFloat64);
  return {
      2 * torch::randn({B, F * T, C}, f64) + 10, // far from zero mean, as a residual stream can be
      torch::randn({B, F * T, C}, f64),
      1 + 0.1 * torch::randn({C}, f64),
      0.5 * torch::randn({B, F, 6, C}, f64)};
}

// The specs' formulas one row at a time, in float64 with scalar loops.
struct NaiveRows {
  torch::Tensor rms, modulated, residual;
};

NaiveRows naive_rows(const RowInputs& in) {
  const auto x = in.x.contiguous(), y = in.y.contiguous(), m = in.modulation.contiguous(), w = in.weight.contiguous();
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), F = m.size(1), per_frame = L / F;
  NaiveRows out{torch::empty_like(x), torch::empty_like(x), torch::empty_like(x)};
  auto X = x.accessor<double, 3>(), Y = y.accessor<double, 3>();
  auto M = m.accessor<double, 4>();
  auto W = w.accessor<double, 1>();
  auto R = out.rms.accessor<double, 3>(), N = out.modulated.accessor<double, 3>(),
       G = out.residual.accessor<double, 3>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t l = 0; l < L; ++l) {
      const int64_t f = l / per_frame;
      double squares = 0, sum = 0, centred = 0;
      for (int64_t c = 0; c < C; ++c) {
        squares += X[b][l][c] * X[b][l][c];
        sum += X[b][l][c];
      }
      const double mean = sum / C;
      for (int64_t c = 0; c < C; ++c) {
        centred += (X[b][l][c] - mean) * (X[b][l][c] - mean);
      }
      for (int64_t c = 0; c < C; ++c) {
        R[b][l][c] = X[b][l][c] / std::sqrt(squares / C + kEps) * W[c];
        const double n = (X[b][l][c] - mean) / std::sqrt(centred / C + kEps);
        N[b][l][c] = n * (1 + M[b][f][1][c]) + M[b][f][0][c];
        G[b][l][c] = X[b][l][c] + Y[b][l][c] * M[b][f][2][c];
      }
    }
  }
  return out;
}

TEST_CASE("row ops on the CPU match the float64 row loop", "[row_ops]") {
  for (const auto& [B, F, T, C] : {std::array<int64_t, 4>{2, 3, 5, 1536}, {1, 2, 4, 45}}) {
    INFO("B " << B << " F " << F << " T " << T << " C " << C);
    const auto in = make_row_inputs(B, F, T, C);
    for (auto dtype : {torch::kFloat64, torch::kFloat32, torch::kBFloat16}) {
      INFO(dtype);
      const double tol = dtype == torch::kFloat64 ? 1e-12 : dtype == torch::kFloat32 ? 2e-6 : 1e-2;
      const auto d = in.to(torch::kCPU, dtype);
      const auto ref = naive_rows(d.to(torch::kCPU, torch::kFloat64)); // on the inputs the kernel sees
      CHECK(rel_err(arl2::rms_norm(d.x, d.weight, kEps), ref.rms) < tol);
      CHECK(rel_err(arl2::layer_norm_modulate(d.x, d.shift(), d.scale(), kEps), ref.modulated) < tol);
      CHECK(rel_err(arl2::gated_residual(d.x, d.y, d.gate()), ref.residual) < tol);
    }
  }
}

TEST_CASE("row ops' gradients match central finite differences", "[row_ops][grad]") {
  const auto in = make_row_inputs(2, 2, 3, 5);
  auto x = in.x.clone().requires_grad_(), y = in.y.clone().requires_grad_();
  auto weight = in.weight.clone().requires_grad_(), modulation = in.modulation.clone().requires_grad_();
  const auto w_out = torch::randn({2, 6, 5}, torch::kFloat64);
  auto loss = [&] {
    const auto shift = modulation.select(2, 0), scale = modulation.select(2, 1), gate = modulation.select(2, 2);
    const auto h = arl2::layer_norm_modulate(x, shift, scale, kEps);
    return (arl2::gated_residual(arl2::rms_norm(h, weight, kEps), y, gate) * w_out).sum();
  };
  const auto grads = torch::autograd::grad({loss()}, {x, y, weight, modulation});
  const auto value = [&] { return loss().item<double>(); };
  CHECK(rel_err(grads[0], central_differences(value, x)) < 1e-7);
  CHECK(rel_err(grads[1], central_differences(value, y)) < 1e-7);
  CHECK(rel_err(grads[2], central_differences(value, weight)) < 1e-7);
  CHECK(rel_err(grads[3], central_differences(value, modulation)) < 1e-7);
}

TEST_CASE("row ops name the argument they refuse", "[row_ops]") {
  const auto x = torch::randn({2, 6, 8});
  CHECK(contains(error_of([&] { arl2::rms_norm(x, torch::ones({7}), kEps); }), "rms_norm: weight must be [C]"));
  CHECK(contains(
      error_of([&] {
        arl2::layer_norm_modulate(x, torch::ones({2, 4, 8}), torch::ones({2, 4, 8}), kEps);
      }),
      "layer_norm_modulate: the frames F = 4 of shift must divide x's L = 6"));
  CHECK(contains(
      error_of([&] {
        arl2::gated_residual(x, x, torch::ones({2, 2, 8}, torch::kFloat64));
      }),
      "gated_residual: gate must have x's dtype"));
}

#ifdef ARL2_WITH_CUDA
TEST_CASE("row ops on CUDA match the float64 CPU reference", "[row_ops][cuda]") {
  REQUIRE(torch::cuda::is_available());
  // One 3-frame block of Wan-1.3B at 480 x 832 (4680 tokens of 1536: float32 rows in two register segments),
  // a head's width (the l2 norms of the memory path), a row of several segments in every dtype, and a width no
  // multiple of 32.
  for (const auto& [B, F, T, C] :
       {std::array<int64_t, 4>{1, 3, 1560, 1536}, {1, 2, 10, 128}, {1, 1, 3, 4096 + 2048 + 8}, {2, 2, 7, 45}}) {
    const auto in = make_row_inputs(B, F, T, C);
    for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
      INFO("C " << C << " " << dtype);
      const double tol = dtype == torch::kFloat32 ? 2e-6 : dtype == torch::kFloat16 ? 2e-3 : 1e-2;
      const auto d = in.to(torch::kCUDA, dtype);
      const auto ref = naive_rows(d.to(torch::kCPU, torch::kFloat64)); // on the inputs the kernel sees
      poison_cuda_outputs({in.x.sizes().vec()});
      const auto rms = arl2::rms_norm(d.x, d.weight, kEps);
      const auto modulated = arl2::layer_norm_modulate(d.x, d.shift(), d.scale(), kEps);
      const auto residual = arl2::gated_residual(d.x, d.y, d.gate());
      CHECK(rms.scalar_type() == dtype);
      CHECK(rel_err(rms, ref.rms) < tol);
      CHECK(rel_err(modulated, ref.modulated) < tol);
      CHECK(rel_err(residual, ref.residual) < tol);
    }
  }
}
#endif

} // namespace
} // namespace arl2::test
