// Argument checks of arl2::rope3d shared by its CPU, CUDA and Meta kernels (symbolic sizes, so the
// Meta kernel can run them), and the translation to the torch-free parameter struct.
#pragma once

#include <ATen/core/Tensor.h>

#include "../kernels/common/rope3d_params.h"

namespace arl2::detail {

void check_rope3d_args(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset);

// Parameters for x (unit stride along D) and a dense y of its shape and dtype (concrete tensors only).
kernels::Rope3dParams rope3d_params(
    const at::Tensor& x, at::Tensor& y, c10::IntArrayRef grid, int64_t frame_offset, bool inverse);

} // namespace arl2::detail
