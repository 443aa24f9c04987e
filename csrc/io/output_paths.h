// Output files checked before any work, so that a command fails at once rather than after its work, and never
// writes over a file it reads. Files are compared by identity (device and inode): another spelling of a path, a
// symbolic or a hard link is the same file.
#pragma once

#include <string>
#include <vector>

namespace arl2::io {

// A path and the option or config key it came from ("--checkpoint", "inference.checkpoint").
struct NamedPath {
  std::string what;
  std::string path;
};

// Whether `a` and `b` both exist and are one file.
bool same_file(const std::string& a, const std::string& b);

// Throws, naming the options and the paths, when `output` cannot be written as a file: it is an existing folder,
// its folder does not exist, or it is one of the files in `inputs` (empty paths are no input).
void check_output_file(const NamedPath& output, const std::vector<NamedPath>& inputs);

} // namespace arl2::io
