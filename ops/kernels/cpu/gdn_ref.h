// Host entry points of the CPU reference kernels for the GDN ops: token-by-token loops over float32 or
// float64 (the glue upcasts bfloat16 / float16), readable rather than fast, one (batch, head) lane at a time.
// Torch-free.
#pragma once

#include "../common/gdn_params.h"

namespace arl2::kernels {

// Each expects p.dtype to be kFloat32 or kFloat64, with every tensor (inputs, states, gradients) of that type,
// and computes the lanes [begin, end) of p: the (batch, head) pairs b * H + h, which share nothing, so that
// the caller can run ranges of them on its threads ([0, B * H) is the whole op).
void gdn_block_scan_fwd_cpu(const GdnScanFwdParams& p, int64_t begin, int64_t end);
void gdn_block_scan_bwd_cpu(const GdnScanBwdParams& p, int64_t begin, int64_t end);
void gdn_block_read_fwd_cpu(const GdnReadFwdParams& p, int64_t begin, int64_t end);
void gdn_block_read_bwd_cpu(const GdnReadBwdParams& p, int64_t begin, int64_t end);

} // namespace arl2::kernels
