// The sizes the GDN CUDA kernels support: K and V multiples of 16 up to 128 (the tensor-core tiles and
// the shared-memory plans are sized for that), and B * H within one grid dimension.
#include <string>

#include "gdn_cuda.h"

namespace arl2::kernels {

std::string gdn_cuda_unsupported(const GdnShape& s) {
  using std::to_string;
  const auto head_dim_ok = [](int64_t d) { return d >= 16 && d <= 128 && d % 16 == 0; };
  if (!head_dim_ok(s.dim_k)) {
    return "the CUDA kernels need the key head dim K in {16, 32, ..., 128}, got K = " + to_string(s.dim_k);
  }
  if (!head_dim_ok(s.dim_v)) {
    return "the CUDA kernels need the value head dim V in {16, 32, ..., 128}, got V = " + to_string(s.dim_v);
  }
  if (s.batch * s.heads > 65535) {
    return "the CUDA kernels need B * H <= 65535, got B = " + to_string(s.batch) + ", H = " + to_string(s.heads);
  }
  if (s.block_len < 1 || s.seqlen % s.block_len != 0) {
    return "T = " + to_string(s.seqlen) + " must be a multiple of block_len = " + to_string(s.block_len);
  }
  return {};
}

} // namespace arl2::kernels
