// A fresh, flat temporary directory per test case, removed with everything in it at the end. POSIX calls
// rather than std::filesystem: the torch wheel's libtorch.so exports its own copy of some std::filesystem
// symbols (e.g. remove_all), and calls bound to that copy crash.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

#include "catch.h"

namespace arl2::test {

// The entries of a flat directory (none if it does not exist), sorted.
inline std::vector<std::string> list_dir(const std::string& path) {
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

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = "/tmp/arl2_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    for (const auto& name : listing()) {
      unlink(file(name).c_str());
    }
    rmdir(path.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const {
    return path + "/" + name;
  }
  std::vector<std::string> listing() const {
    return list_dir(path);
  }
};

} // namespace arl2::test
