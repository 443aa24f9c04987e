// same_file and check_output_file (see output_paths.h).
#include "io/output_paths.h"

#include <sys/stat.h>

#include <c10/util/Exception.h>

#include "io/directories.h"

namespace arl2::io {
namespace {

bool is_folder(const std::string& path) {
  struct stat s {};
  return stat(path.c_str(), &s) == 0 && S_ISDIR(s.st_mode);
}

} // namespace

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void check_output_file(const NamedPath& output, const std::vector<NamedPath>& inputs) {
  TORCH_CHECK(!output.path.empty(), output.what, ": empty; it names the file to write");
  TORCH_CHECK(!is_folder(output.path), output.what, ": '", output.path, "' is a folder; name a file");
  TORCH_CHECK(is_folder(parent_folder(output.path)), output.what, ": the folder of '", output.path, "' does not exist");
  for (const auto& input : inputs) {
    TORCH_CHECK(
        input.path.empty() || !same_file(output.path, input.path),
        output.what,
        ": '",
        output.path,
        "' is the file ",
        input.what,
        " reads ('",
        input.path,
        "'); writing it would replace that input: name another output");
  }
}

} // namespace arl2::io
