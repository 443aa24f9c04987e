// The ranges of io/fields.h: membership and how errors state them.
#include "io/fields.h"

#include <cmath>
#include <cstdio>

namespace arl2::io {
namespace {

// A bound as an error shows it: 1000, 0.5, 1e-08.
std::string bound_text(double x) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", x);
  return text;
}

} // namespace

bool contains(const IntRange& r, int64_t x) {
  return x >= r.min && x <= r.max;
}

bool contains(const NumberRange& r, double x) {
  return std::isfinite(x) && (r.min_open ? x > r.min : x >= r.min) && (r.max_open ? x < r.max : x <= r.max);
}

std::string describe(const IntRange& r) {
  if (r.meaning) {
    return r.meaning;
  }
  const bool low = r.min != std::numeric_limits<int64_t>::min();
  const bool high = r.max != std::numeric_limits<int64_t>::max();
  if (!high && (r.min == 0 || r.min == 1)) {
    return r.min == 0 ? "a non-negative integer" : "a positive integer";
  }
  if (low && high) {
    return "an integer in [" + std::to_string(r.min) + ", " + std::to_string(r.max) + "]";
  }
  if (low) {
    return "an integer >= " + std::to_string(r.min);
  }
  return high ? "an integer <= " + std::to_string(r.max) : "an integer";
}

std::string describe(const NumberRange& r) {
  const bool low = r.min != -std::numeric_limits<double>::max();
  const bool high = r.max != std::numeric_limits<double>::max();
  if (low && high) {
    return std::string("a number in ") + (r.min_open ? "(" : "[") + bound_text(r.min) + ", " + bound_text(r.max) +
           (r.max_open ? ")" : "]");
  }
  if (low) {
    return std::string("a number ") + (r.min_open ? "> " : ">= ") + bound_text(r.min);
  }
  return high ? std::string("a number ") + (r.max_open ? "< " : "<= ") + bound_text(r.max) : "a finite number";
}

} // namespace arl2::io
