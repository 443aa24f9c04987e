// The `hybrid:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {

model::HybridOptions read_hybrid_section(const YamlMap& s) {
  s.check_keys({"layers", "ratio", "policy", "lora", "lora_rank", "lora_alpha", "ffn_lora_all_layers"});
  model::HybridOptions h;
  if (s.has("layers")) {
    h.layers = s.integers("layers");
  }
  if (s.has("ratio")) {
    h.ratio = s.number("ratio");
  }
  if (s.has("policy")) {
    h.policy = model::layer_policy(s.choice("policy", model::layer_policy_names()));
  }
  s.read("lora", h.lora);
  s.read("lora_rank", h.lora_options.rank, {1, 1 << 12});
  s.read("lora_alpha", h.lora_options.alpha, NumberRange{});
  s.read("ffn_lora_all_layers", h.ffn_lora_all_layers);
  if (h.ffn_lora_all_layers && !h.lora) {
    s.fail("ffn_lora_all_layers", "needs hybrid.lora: true (it says where the FFN adapters go)");
  }
  return h;
}

} // namespace arl2::config
