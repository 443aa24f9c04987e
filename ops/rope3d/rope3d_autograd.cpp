// Autograd of arl2::rope3d: the rotation is orthogonal, so the backward is the op itself with the
// rotation inverted (ops/specs/rope3d.md). Calling it through the dispatcher keeps it differentiable.
#include <torch/autograd.h>
#include <torch/library.h>

#include "arl2/ops.h"

namespace arl2::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class Rope3dFunction : public torch::autograd::Function<Rope3dFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx, const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset, bool inverse) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->saved_data["grid"] = grid.vec();
    ctx->saved_data["frame_offset"] = frame_offset;
    ctx->saved_data["inverse"] = inverse;
    return arl2::rope3d(x, grid, frame_offset, inverse);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto grid = ctx->saved_data["grid"].toIntVector();
    const auto dx =
        arl2::rope3d(grads[0], grid, ctx->saved_data["frame_offset"].toInt(), !ctx->saved_data["inverse"].toBool());
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor rope3d_autograd(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset, bool inverse) {
  return Rope3dFunction::apply(x, grid, frame_offset, inverse);
}

} // namespace

TORCH_LIBRARY_IMPL(arl2, Autograd, m) {
  m.impl("rope3d", &rope3d_autograd);
}

} // namespace arl2::detail
