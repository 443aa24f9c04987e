// The message a call throws as c10::Error, without its backtrace ("" if it throws none): what tests
// compare error messages against.
#pragma once

#include <string>

#include <c10/util/Exception.h>

namespace arl2::test {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

} // namespace arl2::test
