// Output folders.
#pragma once

#include <string>

namespace arl2::io {

// mkdir -p: creates `path` and any missing parent. Throws naming `what` (the option or key the path came
// from) and the folder that could not be made.
void make_directories(const std::string& path, const std::string& what);

} // namespace arl2::io
