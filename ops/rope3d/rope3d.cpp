// C++ API of arl2::rope3d: calls through the dispatcher (vision's ops API pattern).
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/dispatch/Dispatcher.h>

#include "arl2/ops.h"

namespace arl2 {

at::Tensor rope3d(const at::Tensor& x, c10::IntArrayRef grid, int64_t frame_offset, bool inverse) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("arl2::rope3d", "").typed<decltype(rope3d)>();
  return op.call(x, grid, frame_offset, inverse);
}

} // namespace arl2
