// Writing a file so that a reader sees the old file or the new one, never a part: the bytes go to a temporary
// file next to it (`path`.tmp.<pid>), which is flushed to disk and renamed over `path` only when all is written.
#pragma once

#include <cstddef>
#include <string>

namespace arl2::io {

class AtomicFile {
 public:
  // Creates the temporary file; `who` starts every error message ("save_safetensors", ...).
  AtomicFile(std::string path, std::string who);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Without commit() (an error on the way), the temporary file is removed and `path` is left as it was.
  ~AtomicFile();

  void write(const void* data, size_t size);
  // fsync, close, rename over `path`, and (best effort) fsync of the folder so the rename persists.
  void commit();

 private:
  std::string path_, tmp_, who_;
  int fd_ = -1;
  bool committed_ = false;
};

// `text` to `path` through an AtomicFile.
void write_file_atomically(const std::string& path, const std::string& text);

// The file that a temporary file named `name` was being written for ("x.safetensors" for
// "x.safetensors.tmp.4242"); "" when `name` is not an AtomicFile's temporary file.
std::string temp_file_target(const std::string& name);

} // namespace arl2::io
