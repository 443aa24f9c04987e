// Writing a whole file so that a reader sees the old file or the new one, never a part: a temporary file
// next to it, renamed over it.
#pragma once

#include <string>

namespace arl2::io {

// `text` to `path` through `path`.tmp.<pid>, renamed over `path`; throws naming the file, leaving no
// temporary behind.
void write_file_atomically(const std::string& path, const std::string& text);

} // namespace arl2::io
