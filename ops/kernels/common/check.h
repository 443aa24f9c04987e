// Error checking for the torch-free kernel code: ARL2_CHECK throws std::runtime_error with the
// failing condition and a message, so the torch glue above turns it into a RuntimeError. The message
// is joined with std::string and std::to_string rather than an ostream: it needs no locale.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

namespace arl2::kernels::detail {

inline void append_text(std::string& s, const char* x) {
  s += x;
}
inline void append_text(std::string& s, const std::string& x) {
  s += x;
}
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
void append_text(std::string& s, T x) {
  s += std::to_string(x);
}

template <typename... Args>
[[noreturn]] void throw_check_failure(const char* cond, const char* file, int line, const Args&... args) {
  std::string message = std::string("arl2: check failed: ") + cond + " (" + file + ":" + std::to_string(line) + ")";
  if constexpr (sizeof...(Args) > 0) {
    message += ": ";
    (append_text(message, args), ...);
  }
  throw std::runtime_error(message);
}

} // namespace arl2::kernels::detail

#define ARL2_CHECK(cond, ...)                                                                 \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      ::arl2::kernels::detail::throw_check_failure(#cond, __FILE__, __LINE__, ##__VA_ARGS__); \
    }                                                                                         \
  } while (0)
