// Host entry points of the row-wise fused ops' CUDA kernels. Torch-free: the glue passes raw pointers
// and the stream.
#pragma once

#include <cuda_runtime_api.h>

#include "../common/row_ops_params.h"

namespace arl2::kernels {

void rms_norm_cuda(const RmsNormParams& p, cudaStream_t stream);
void layer_norm_modulate_cuda(const LayerNormModulateParams& p, cudaStream_t stream);
void gated_residual_cuda(const GatedResidualParams& p, cudaStream_t stream);

} // namespace arl2::kernels
