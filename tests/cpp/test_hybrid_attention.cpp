// arl2::hybrid_attention through the C++ API: against a float64 loop over tokens (softmax over the
// token's block, then the gated read), on CPU and (tag [cuda]) CUDA in bfloat16; and a named error.
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "arl2/ops.h"
#include "catch.h"
#include "test_util.h"

namespace arl2::test {
namespace {

// ops/specs/hybrid_attention.md (1)-(3), one token at a time.
torch::Tensor naive_hybrid(const std::vector<torch::Tensor>& in, int64_t block_len) {
  const auto q = in[0], k = in[1], v = in[2], q_mem = in[3], states = in[4], gate = in[5];
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2);
  const double scale = 1.0 / std::sqrt(double(q.size(3))), mem_scale = 1.0 / std::sqrt(double(q_mem.size(3)));
  auto out = torch::empty({B, T, H, v.size(3)}, q.options());
  for (int64_t t = 0; t < T; ++t) {
    const int64_t blk = t / block_len;
    const auto keys = k.slice(1, blk * block_len, (blk + 1) * block_len); // [B, L, H, D]
    const auto vals = v.slice(1, blk * block_len, (blk + 1) * block_len);
    const auto weights = (scale * (keys * q.select(1, t).unsqueeze(1)).sum(-1)).softmax(1); // [B, L, H]
    const auto intra = (weights.unsqueeze(-1) * vals).sum(1);                               // [B, H, V]
    const auto memory = mem_scale * (states.select(1, blk) * q_mem.select(1, t).unsqueeze(-1)).sum(-2);
    out.select(1, t).copy_(intra + gate.select(1, t).unsqueeze(-1) * memory);
  }
  return out;
}

std::vector<torch::Tensor> make_hybrid_inputs(int64_t B, int64_t NB, int64_t L, int64_t H, int64_t D) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t T = NB * L;
  return {
      torch::randn({B, T, H, D}, f64),
      torch::randn({B, T, H, D}, f64),
      torch::randn({B, T, H, D}, f64),
      torch::nn::functional::normalize(
          torch::randn({B, T, H, D}, f64), torch::nn::functional::NormalizeFuncOptions().dim(-1)),
      0.5 * torch::randn({B, NB, H, D, D}, f64),
      torch::rand({B, T, H}, f64)};
}

TEST_CASE("hybrid_attention matches a float64 token loop on the CPU", "[hybrid_attention]") {
  for (const int64_t L : {1, 7, 32}) {
    const auto in = make_hybrid_inputs(2, 3, L, 2, 16);
    const auto out = hybrid_attention(in[0], in[1], in[2], in[3], in[4], in[5], L);
    CHECK(rel_err(out, naive_hybrid(in, L)) < 1e-12);
  }
}

TEST_CASE("hybrid_attention names a bad block_len", "[hybrid_attention]") {
  const auto in = make_hybrid_inputs(1, 2, 8, 1, 16);
  std::string message;
  try {
    hybrid_attention(in[0], in[1], in[2], in[3], in[4], in[5], 5);
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  }
  CHECK(message.find("T (16) must be a multiple of block_len (5)") != std::string::npos);
}

#ifdef ARL2_WITH_CUDA
TEST_CASE(
    "hybrid_attention CUDA (flash attention, bfloat16) matches the float64 reference", "[hybrid_attention][cuda]") {
  REQUIRE(torch::cuda::is_available());
  const int64_t L = 64;
  auto in = make_hybrid_inputs(1, 3, L, 2, 64);
  std::vector<torch::Tensor> dev;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto dtype = i == 4 ? torch::kFloat32 : torch::kBFloat16;
    in[i] = in[i].to(dtype).to(torch::kFloat64); // the reference sees the rounded inputs
    dev.push_back(in[i].to(torch::kCUDA, dtype));
  }
  poison_cuda_outputs({{1, 3 * L, 2, 64}});
  const auto out = hybrid_attention(dev[0], dev[1], dev[2], dev[3], dev[4], dev[5], L);
  CHECK(out.scalar_type() == torch::kBFloat16);
  CHECK(rel_err(out.cpu(), naive_hybrid(in, L)) < 1e-2);
}
#endif

} // namespace
} // namespace arl2::test
