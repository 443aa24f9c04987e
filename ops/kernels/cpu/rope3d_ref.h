// CPU reference kernel of arl2::rope3d: float32 or float64 data (the glue upcasts bfloat16 / float16).
#pragma once

#include "../common/rope3d_params.h"

namespace arl2::kernels {

void rope3d_cpu(const Rope3dParams& p);

} // namespace arl2::kernels
