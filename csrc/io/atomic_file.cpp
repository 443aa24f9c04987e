// write_file_atomically (see atomic_file.h).
#include "io/atomic_file.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <c10/util/Exception.h>

namespace arl2::io {

void write_file_atomically(const std::string& path, const std::string& text) {
  const auto tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out.good()) {
      out.close();
      std::remove(tmp.c_str());
      TORCH_CHECK(false, "cannot write '", tmp, "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    TORCH_CHECK(false, "cannot rename '", tmp, "' to '", path, "'");
  }
}

} // namespace arl2::io
