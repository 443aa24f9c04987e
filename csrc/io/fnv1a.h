// FNV-1a, 64 bits: the one hash of the project's identities (a config's hash, a weights file's fingerprint).
// Not for security: it tells apart inputs that differ by mistake, not by design.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace arl2::io {

class Fnv1a {
 public:
  void add(const void* data, size_t n) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      hash_ = (hash_ ^ bytes[i]) * 1099511628211ull;
    }
  }
  void add(std::string_view text) {
    add(text.data(), text.size());
  }
  uint64_t value() const {
    return hash_;
  }
  // 16 hex digits
  std::string hex() const {
    char out[17];
    std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(hash_));
    return out;
  }

 private:
  uint64_t hash_ = 14695981039346656037ull;
};

} // namespace arl2::io
