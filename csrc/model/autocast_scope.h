// Mixed precision for one scope: autocast on (or off) for a device type, restored on exit. Training runs
// the frozen base in bfloat16 with float32 trainable weights; autocast casts each matmul's operands to
// the lower precision, so the two meet without copies of the base. A checkpointed block (block_checkpoint.h)
// takes the state its forward saw into its recomputation, which the autograd engine may run on another
// thread.
#pragma once

#include <ATen/autocast_mode.h>

namespace arl2::model {

struct AutocastState {
  bool enabled = false;
  at::ScalarType dtype = at::kBFloat16;
};

inline AutocastState autocast_state(at::DeviceType device) {
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
}

class AutocastScope {
 public:
  AutocastScope(at::DeviceType device, AutocastState state) : device_(device), previous_(autocast_state(device)) {
    at::autocast::set_autocast_enabled(device, state.enabled);
    at::autocast::set_autocast_dtype(device, state.dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    // The cache of cast weights lives until the outermost scope ends, as in torch.autocast.
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(device_, previous_.enabled);
    at::autocast::set_autocast_dtype(device_, previous_.dtype);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  at::DeviceType device_;
  AutocastState previous_;
};

} // namespace arl2::model
