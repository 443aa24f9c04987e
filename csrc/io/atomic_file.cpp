// AtomicFile and write_file_atomically (see atomic_file.h).
#include "io/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <c10/util/Exception.h>

#include "io/directories.h"

namespace arl2::io {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

const std::string kTempInfix = ".tmp."; // `path`.tmp.<pid>

} // namespace

AtomicFile::AtomicFile(std::string path, std::string who) : path_(std::move(path)), who_(std::move(who)) {
  tmp_ = path_ + kTempInfix + std::to_string(getpid());
  fd_ = open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TORCH_CHECK(fd_ >= 0, who_, ": cannot create '", tmp_, "': ", errno_text());
}

AtomicFile::~AtomicFile() {
  if (committed_) {
    return;
  }
  if (fd_ >= 0) {
    close(fd_);
  }
  unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    TORCH_CHECK(n > 0, who_, ": write to '", tmp_, "' failed: ", n < 0 ? errno_text() : "wrote 0 bytes");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  TORCH_CHECK(fsync(fd_) == 0, who_, ": fsync of '", tmp_, "' failed: ", errno_text());
  const int fd = std::exchange(fd_, -1);
  TORCH_CHECK(close(fd) == 0, who_, ": close of '", tmp_, "' failed: ", errno_text());
  TORCH_CHECK(
      rename(tmp_.c_str(), path_.c_str()) == 0,
      who_,
      ": rename of '",
      tmp_,
      "' to '",
      path_,
      "' failed: ",
      errno_text());
  committed_ = true;
  // The data is safe in the file already; this only makes the new name survive a crash.
  const int dfd = open(parent_folder(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

void write_file_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path, "write_file_atomically");
  file.write(text.data(), text.size());
  file.commit();
}

std::string temp_file_target(const std::string& name) {
  const auto at = name.rfind(kTempInfix);
  if (at == std::string::npos || at == 0) {
    return "";
  }
  const auto pid = name.substr(at + kTempInfix.size());
  const bool digits = !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
  return digits ? name.substr(0, at) : "";
}

} // namespace arl2::io
