// The `model:` section (see sections.h).
#include "config/sections.h"

#include <utility>

namespace arl2::config {

model::ModelConfig read_model_section(const YamlMap& s) {
  s.check_keys(
      {"preset",
       "dim",
       "ffn_dim",
       "num_heads",
       "num_layers",
       "patch",
       "in_dim",
       "out_dim",
       "text_len",
       "text_dim",
       "freq_dim",
       "eps"});
  auto c = model::model_preset(s.has("preset") ? s.choice("preset", model::model_preset_names()) : "wan2.1-t2v-1.3b");
  const std::pair<const char*, int64_t*> integers[] = {
      {"dim", &c.dim},
      {"ffn_dim", &c.ffn_dim},
      {"num_heads", &c.num_heads},
      {"num_layers", &c.num_layers},
      {"in_dim", &c.in_dim},
      {"out_dim", &c.out_dim},
      {"text_len", &c.text_len},
      {"text_dim", &c.text_dim},
      {"freq_dim", &c.freq_dim},
  };
  for (const auto& [key, field] : integers) {
    if (s.has(key)) {
      *field = s.integer(key);
    }
  }
  if (s.has("patch")) {
    c.patch = s.integer_triple("patch");
  }
  if (s.has("eps")) {
    c.eps = s.number("eps");
  }
  return c;
}

} // namespace arl2::config
