// Host entry point of arl2::rope3d's CUDA kernel. Torch-free: the glue passes raw pointers and the stream.
#pragma once

#include <cuda_runtime_api.h>

#include "../common/rope3d_params.h"

namespace arl2::kernels {

void rope3d_cuda(const Rope3dParams& p, cudaStream_t stream);

} // namespace arl2::kernels
