// The `hybrid:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {

model::HybridOptions read_hybrid_section(const YamlMap& s) {
  model::HybridOptions h;
  read_fields(s, h);
  if (h.ffn_lora_all_layers && !h.lora) {
    s.fail("ffn_lora_all_layers", "needs hybrid.lora: true (it says where the FFN adapters go)");
  }
  return h;
}

} // namespace arl2::config
