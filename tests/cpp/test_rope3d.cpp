// arl2::rope3d: the CPU kernel against a float64 loop over std::polar rotations, the backward against
// finite differences, and (tag [cuda]) CUDA against the float64 CPU path.
#include <cmath>
#include <complex>

#include <torch/torch.h>

#include "arl2/ops.h"
#include "catch.h"
#include "test_util.h"

namespace arl2::test {
namespace {

// ops/specs/rope3d.md (1)-(2) literally: each interleaved pair as a complex number times e^{i theta}.
torch::Tensor naive_rope3d(const torch::Tensor& x, std::array<int64_t, 3> grid, int64_t offset) {
  const auto xd = x.to(torch::kFloat64).contiguous();
  auto y = torch::empty_like(xd);
  const int64_t B = x.size(0), L = x.size(1), H = x.size(2), D = x.size(3);
  const int64_t sizes[3] = {D - 4 * (D / 6), 2 * (D / 6), 2 * (D / 6)};
  const double* in = xd.data_ptr<double>();
  double* out = y.data_ptr<double>();
  for (int64_t l = 0; l < L; ++l) {
    const int64_t pos[3] = {offset + l / (grid[1] * grid[2]), (l / grid[2]) % grid[1], l % grid[2]};
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        int64_t pair = 0;
        for (int a = 0; a < 3; ++a) {
          for (int64_t j = 0; j < sizes[a] / 2; ++j, ++pair) {
            const double theta = pos[a] * std::pow(10000.0, -2.0 * j / sizes[a]);
            const int64_t e = ((b * L + l) * H + h) * D + 2 * pair;
            const auto z = std::complex<double>(in[e], in[e + 1]) * std::polar(1.0, theta);
            out[e] = z.real();
            out[e + 1] = z.imag();
          }
        }
      }
    }
  }
  return y;
}

TEST_CASE("rope3d CPU matches the float64 rotation loop", "[rope3d]") {
  const std::array<int64_t, 3> grid{3, 4, 5};
  for (int64_t offset : {int64_t{0}, int64_t{4000}}) {
    INFO("frame_offset " << offset);
    const auto x = torch::randn({2, 60, 2, 128}, torch::kFloat64);
    const auto ref = naive_rope3d(x, grid, offset);
    CHECK(rel_err(arl2::rope3d(x, grid, offset), ref) < 1e-13);
    CHECK(rel_err(arl2::rope3d(x.to(torch::kFloat32), grid, offset), ref) < 1e-6);
    CHECK(rel_err(arl2::rope3d(arl2::rope3d(x, grid, offset), grid, offset, true), x) < 1e-13);
  }
}

TEST_CASE("rope3d gradient matches central finite differences", "[rope3d][grad]") {
  const std::array<int64_t, 3> grid{2, 2, 2};
  auto x = torch::randn({1, 8, 2, 12}, torch::kFloat64).requires_grad_(true);
  const auto w = torch::randn({1, 8, 2, 12}, torch::kFloat64);
  auto loss = [&] { return (arl2::rope3d(x, grid, 3) * w).sum(); };
  const auto grad = torch::autograd::grad({loss()}, {x})[0];
  CHECK(rel_err(grad, central_differences([&] { return loss().item<double>(); }, x)) < 1e-8);
}

#ifdef ARL2_WITH_CUDA
TEST_CASE("rope3d CUDA matches the float64 CPU reference", "[rope3d][cuda]") {
  REQUIRE(torch::cuda::is_available());
  const std::array<int64_t, 3> grid{21, 30, 52}; // a 21-frame clip at 480 x 832: 32760 tokens
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
    for (int64_t offset : {int64_t{0}, int64_t{4000}}) {
      INFO(dtype << " frame_offset " << offset);
      const auto x = torch::randn({1, 32760, 2, 128}).to(dtype);
      const auto ref = arl2::rope3d(x.to(torch::kFloat64), grid, offset);
      poison_cuda_outputs({x.sizes().vec()});
      const auto y = arl2::rope3d(x.to(torch::kCUDA), grid, offset);
      CHECK(y.scalar_type() == dtype);
      CHECK(rel_err(y, ref) < (dtype == torch::kFloat32 ? 1e-6 : 1e-2));
    }
  }
}
#endif

} // namespace
} // namespace arl2::test
