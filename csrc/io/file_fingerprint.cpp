// file_fingerprint (see file_fingerprint.h).
#include "io/file_fingerprint.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <c10/util/Exception.h>

#include "io/fnv1a.h"

namespace arl2::io {
namespace {

constexpr uint64_t kHeadBytes = 1 << 20;
constexpr uint64_t kChunkBytes = 64 << 10;
constexpr uint64_t kChunks = 256;

// Adds bytes [begin, end) of `fd` to `hash`.
void hash_range(int fd, uint64_t begin, uint64_t end, const std::string& path, Fnv1a& hash) {
  std::vector<uint8_t> buffer(std::min<uint64_t>(end - begin, kHeadBytes));
  for (uint64_t at = begin; at < end;) {
    const auto want = static_cast<size_t>(std::min<uint64_t>(end - at, buffer.size()));
    const ssize_t got = pread(fd, buffer.data(), want, static_cast<off_t>(at));
    TORCH_CHECK(got > 0, "cannot read '", path, "' at byte ", at);
    hash.add(buffer.data(), static_cast<size_t>(got));
    at += static_cast<uint64_t>(got);
  }
}

} // namespace

std::string file_fingerprint(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  TORCH_CHECK(fd >= 0, "cannot open '", path, "' to fingerprint it");
  struct stat info {};
  Fnv1a hash;
  try {
    TORCH_CHECK(fstat(fd, &info) == 0, "cannot stat '", path, "'");
    const auto size = static_cast<uint64_t>(info.st_size);
    const uint64_t head = std::min(size, kHeadBytes);
    hash_range(fd, 0, head, path, hash);
    const uint64_t rest = size - head;
    if (rest <= kChunks * kChunkBytes) {
      hash_range(fd, head, size, path, hash);
    } else {
      // Chunk i starts i / (kChunks - 1) of the way through the rest: the first and the last bytes included.
      for (uint64_t i = 0; i < kChunks; ++i) {
        const uint64_t begin = head + i * (rest - kChunkBytes) / (kChunks - 1);
        hash_range(fd, begin, begin + kChunkBytes, path, hash);
      }
    }
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  char text[64];
  std::snprintf(
      text,
      sizeof(text),
      "v1:%llu:%016llx",
      static_cast<unsigned long long>(info.st_size),
      static_cast<unsigned long long>(hash.value()));
  return text;
}

} // namespace arl2::io
