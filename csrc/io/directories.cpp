// Output folders (see directories.h). POSIX rather than std::filesystem: the torch wheel's libraries export
// their own copy of some std::filesystem symbols (see train/clip_dataset.cpp).
#include "io/directories.h"

#include <cerrno>

#include <sys/stat.h>

#include <c10/util/Exception.h>

namespace arl2::io {

void make_directories(const std::string& path, const std::string& what) {
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const auto prefix = path.substr(0, end);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      TORCH_CHECK(false, what, ": cannot create the folder '", prefix, "'");
    }
    if (end == std::string::npos) {
      return;
    }
  }
}

} // namespace arl2::io
