// Output folders (see directories.h). POSIX rather than std::filesystem: the torch wheel's libraries export
// their own copy of some std::filesystem symbols (see train/clip_dataset.cpp).
#include "io/directories.h"

#include <algorithm>
#include <cerrno>

#include <dirent.h>
#include <sys/stat.h>

#include <c10/util/Exception.h>

namespace arl2::io {

void make_directories(const std::string& path, const std::string& what) {
  TORCH_CHECK(!path.empty(), what, ": empty; it names a folder");
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const auto prefix = path.substr(0, end);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      TORCH_CHECK(false, what, ": cannot create the folder '", prefix, "'");
    }
    if (end == std::string::npos) {
      break;
    }
  }
  struct stat s {};
  TORCH_CHECK(stat(path.c_str(), &s) == 0 && S_ISDIR(s.st_mode), what, ": '", path, "' exists and is not a folder");
}

std::vector<std::string> list_folder(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* d = opendir(path.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") {
        names.push_back(name);
      }
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string parent_folder(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

} // namespace arl2::io
