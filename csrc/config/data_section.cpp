// The `data:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {

DataConfig read_data_section(const YamlMap& s) {
  s.check_keys({"path"});
  DataConfig c;
  if (s.has("path")) {
    c.path = s.string("path");
  }
  return c;
}

} // namespace arl2::config
