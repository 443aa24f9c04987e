// The `model:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {

model::ModelConfig read_model_section(const YamlMap& s) {
  const auto presets = model::model_preset_names();
  auto c = model::model_preset(s.has("preset") ? s.choice("preset", presets) : "wan2.1-t2v-1.3b");
  read_fields(s, c, {"preset"});
  return c;
}

} // namespace arl2::config
