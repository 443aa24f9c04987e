// Host entry points of the CPU reference kernels for the GDN ops: token-by-token loops over float32 or
// float64 (the glue upcasts bfloat16 / float16), readable rather than fast. Torch-free.
#pragma once

#include "../common/gdn_params.h"

namespace arl2::kernels {

// Each expects p.dtype to be kFloat32 or kFloat64, with every tensor (inputs, states, gradients) of that type.
void gdn_block_scan_fwd_cpu(const GdnScanFwdParams& p);
void gdn_block_scan_bwd_cpu(const GdnScanBwdParams& p);
void gdn_block_read_fwd_cpu(const GdnReadFwdParams& p);
void gdn_block_read_bwd_cpu(const GdnReadBwdParams& p);

} // namespace arl2::kernels
