// Output folders.
#pragma once

#include <string>
#include <vector>

namespace arl2::io {

// mkdir -p: creates `path` and any missing parent. Throws naming `what` (the option or key the path came
// from) when `path` is empty, when it exists as something other than a folder, and naming the folder that
// could not be made.
void make_directories(const std::string& path, const std::string& what);

// The names in the folder `path` ("." and ".." left out), sorted; none when it cannot be read.
std::vector<std::string> list_folder(const std::string& path);

// The folder `path` is in: "a/b" for "a/b/c", "." for "c", "/" for "/c".
std::string parent_folder(const std::string& path);

} // namespace arl2::io
