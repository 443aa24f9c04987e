// Bad input to the GDN ops gets an error that names the argument and what was expected.
#include <torch/torch.h>

#include "arl2/ops.h"
#ifdef ARL2_WITH_CUDA
#include "../../ops/kernels/cuda/gdn_cuda.h"
#endif
#include "catch.h"

namespace arl2::test {
namespace {

std::string scan_error(
    const torch::Tensor& k,
    const torch::Tensor& v,
    const torch::Tensor& g,
    const torch::Tensor& beta,
    int64_t block_len,
    const std::optional<torch::Tensor>& h0 = std::nullopt) {
  try {
    arl2::gdn_block_scan(k, v, g, beta, block_len, h0);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_CASE("gdn_block_scan rejects bad arguments with a clear message", "[gdn_block_scan][errors]") {
  const auto f32 = torch::kFloat32;
  const auto k = torch::randn({1, 8, 2, 4}, f32), v = torch::randn({1, 8, 2, 6}, f32);
  const auto g = -torch::rand({1, 8, 2}, f32), beta = torch::rand({1, 8, 2}, f32);

  CHECK(contains(scan_error(k[0], v, g, beta, 4), "k must have shape [B, T, H, K]"));
  CHECK(contains(scan_error(k, v.narrow(1, 0, 4), g, beta, 4), "v must have shape [B, T, H, V]"));
  CHECK(contains(scan_error(k, v, g.unsqueeze(-1), beta, 4), "g must have shape [B, T, H]"));
  CHECK(contains(scan_error(k, v, g, beta.narrow(2, 0, 1), 4), "beta must have shape [B, T, H]"));
  CHECK(contains(scan_error(k, v.to(torch::kBFloat16), g, beta, 4), "v must be"));
  CHECK(contains(scan_error(k, v, g.to(torch::kBFloat16), beta, 4), "g must be Float"));
  CHECK(contains(scan_error(k.to(torch::kInt32), v, g, beta, 4), "k must be float32, bfloat16"));
  CHECK(contains(scan_error(k, v, g, beta, 3), "must be a multiple of block_len = 3"));
  CHECK(contains(scan_error(k, v, g, beta, 0), "block_len must be positive"));
  CHECK(contains(scan_error(k, v, g, beta, 4, torch::zeros({1, 2, 6, 4})), "initial_state must have shape"));
  CHECK(contains(
      scan_error(k, v, g, beta, 4, torch::zeros({1, 2, 4, 6}, torch::kFloat64)), "initial_state must be Float"));
  CHECK(contains(scan_error(k, v.to(torch::kMeta), g, beta, 4), "all arguments must be on one device"));
}

TEST_CASE("gdn_block_read rejects bad arguments with a clear message", "[gdn_block_read][errors]") {
  const auto q = torch::randn({1, 8, 2, 4}), states = torch::randn({1, 2, 2, 4, 6});
  auto read_error = [](const torch::Tensor& q, const torch::Tensor& s, int64_t block_len) -> std::string {
    try {
      arl2::gdn_block_read(q, s, block_len, 1.0);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  CHECK(read_error(q, states, 4).empty());
  CHECK(contains(read_error(q, states, 2), "states must have shape [B, T / block_len, H, K, V]"));
  CHECK(contains(read_error(q, states.to(torch::kFloat64), 4), "states must be Float"));
  CHECK(contains(read_error(q, states, 5), "must be a multiple of block_len = 5"));
}

TEST_CASE("check_finite names the offending argument", "[errors]") {
  auto t = torch::ones({3});
  CHECK_NOTHROW(arl2::check_finite(t, "k"));
  t[1] = std::numeric_limits<float>::infinity();
  try {
    arl2::check_finite(t, "k");
    FAIL("no error");
  } catch (const c10::Error& e) {
    CHECK(contains(e.what_without_backtrace(), "k holds NaN or infinite values"));
  }
}

#ifdef ARL2_WITH_CUDA
TEST_CASE("the CUDA launchers refuse sizes their kernels do not support", "[errors]") {
  // The glue checks first; this is the launchers' own check, reached by C++ callers of ops/kernels.
  kernels::GdnReadFwdParams p;
  p.shape = {1, 64, 1, 8, 16, 64};
  std::string message;
  try {
    kernels::gdn_block_read_fwd_cuda(p, nullptr);
  } catch (const std::exception& e) {
    message = e.what();
  }
  CHECK(contains(message, "the CUDA kernels need the key head dim K in {16, 32, ..., 128}, got K = 8"));
}
#endif

} // namespace
} // namespace arl2::test
