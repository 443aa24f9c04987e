// Error checking for the torch-free kernel code: ARL2_CHECK throws std::runtime_error with the
// failing condition and a formatted message, so the torch glue above turns it into a RuntimeError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace arl2::kernels::detail {

template <typename... Args>
[[noreturn]] void throw_check_failure(const char* cond, const char* file, int line, const Args&... args) {
  std::ostringstream os;
  os << "arl2: check failed: " << cond << " (" << file << ":" << line << ")";
  if constexpr (sizeof...(Args) > 0) {
    os << ": ";
    (os << ... << args);
  }
  throw std::runtime_error(os.str());
}

} // namespace arl2::kernels::detail

#define ARL2_CHECK(cond, ...)                                                                 \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      ::arl2::kernels::detail::throw_check_failure(#cond, __FILE__, __LINE__, ##__VA_ARGS__); \
    }                                                                                         \
  } while (0)
