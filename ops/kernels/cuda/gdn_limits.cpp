// The sizes the GDN CUDA kernels support: K and V multiples of 16 up to 128 (the tensor-core tiles and
// the shared-memory plans are sized for that), and B * H within one grid dimension.
#include <sstream>

#include "gdn_cuda.h"

namespace arl2::kernels {

std::string gdn_cuda_unsupported(const GdnShape& s) {
  std::ostringstream os;
  const auto head_dim_ok = [](int64_t d) { return d >= 16 && d <= 128 && d % 16 == 0; };
  if (!head_dim_ok(s.dim_k)) {
    os << "the CUDA kernels need the key head dim K in {16, 32, ..., 128}, got K = " << s.dim_k;
  } else if (!head_dim_ok(s.dim_v)) {
    os << "the CUDA kernels need the value head dim V in {16, 32, ..., 128}, got V = " << s.dim_v;
  } else if (s.batch * s.heads > 65535) {
    os << "the CUDA kernels need B * H <= 65535, got B = " << s.batch << ", H = " << s.heads;
  } else if (s.block_len < 1 || s.seqlen % s.block_len != 0) {
    os << "T = " << s.seqlen << " must be a multiple of block_len = " << s.block_len;
  }
  return os.str();
}

} // namespace arl2::kernels
