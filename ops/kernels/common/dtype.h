// Element types the torch-free kernels take, named without torch.
#pragma once

namespace arl2::kernels {

enum class DType { kFloat32, kBFloat16, kFloat16, kFloat64 };

} // namespace arl2::kernels
