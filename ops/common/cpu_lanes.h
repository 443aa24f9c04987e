// The CPU GDN kernels compute ranges of lanes, the (batch, head) pairs (kernels/cpu/gdn_ref.h); this runs all of
// an op's lanes on ATen's intra-op threads, which split them into one range a thread.
#pragma once

#include <ATen/Parallel.h>

namespace arl2::detail {

template <typename Params, typename Kernel>
void run_cpu_lanes(const Params& p, Kernel kernel) {
  at::parallel_for(0, p.shape.batch * p.shape.heads, 1, [&](int64_t begin, int64_t end) { kernel(p, begin, end); });
}

} // namespace arl2::detail
