// A fresh temporary directory per test case, removed with everything in it at the end. POSIX calls
// rather than std::filesystem: the torch wheel's libtorch.so exports its own copy of some std::filesystem
// symbols (e.g. remove_all), and calls bound to that copy crash.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "catch.h"
#include "io/directories.h"

namespace arl2::test {

// Removes `path` and, when it is a folder, everything in it.
inline void remove_tree(const std::string& path) {
  struct stat s {};
  if (lstat(path.c_str(), &s) == 0 && S_ISDIR(s.st_mode)) {
    for (const auto& name : io::list_folder(path)) {
      remove_tree(path + "/" + name);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = "/tmp/arl2_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    remove_tree(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const {
    return path + "/" + name;
  }
  std::vector<std::string> listing() const {
    return io::list_folder(path);
  }
};

} // namespace arl2::test
