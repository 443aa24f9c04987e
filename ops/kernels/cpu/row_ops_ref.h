// CPU reference kernels of the row-wise fused ops: float32 or float64 data (the glue upcasts
// bfloat16 / float16), statistics accumulated in float64.
#pragma once

#include "../common/row_ops_params.h"

namespace arl2::kernels {

void rms_norm_cpu(const RmsNormParams& p);
void layer_norm_modulate_cpu(const LayerNormModulateParams& p);
void gated_residual_cpu(const GatedResidualParams& p);

} // namespace arl2::kernels
