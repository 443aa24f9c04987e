// A struct's fields declared once, for every reader and writer of its values. The struct's header gives a table:
//
//   template <typename Self, typename Visitor, io::TableOf<Self, ModelConfig> = 0> // Self: const or not
//   void visit_fields(Self& c, Visitor&& field) {
//     field("dim", c.dim, io::IntRange{1, 1 << 20});
//     field("eps", c.eps, io::NumberRange{0, 1, true});
//     field("warp", c.warp, io::AnyValue{});
//   }
//
// and the YAML reader (its range checks and errors), dump_config, the metrics JSON and the Python keyword
// arguments and dicts all walk it, so adding a field is one line beside the struct and Python's defaults are the
// C++ defaults. A visitor is a callable taking (key, field, what it accepts, FieldRole).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace arl2::io {

// Makes a visit_fields template the table of `Config` alone, taking it const (for writers) or not (for readers).
template <typename Self, typename Config>
using TableOf = std::enable_if_t<std::is_same_v<std::remove_const_t<Self>, Config>, int>;

// The integers a field accepts, stated in its errors: "expected an integer >= 1, got 0 (line 7)". Sizes have an
// upper bound too, so that no product of them overflows 64 bits before it is checked.
struct IntRange {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  const char* meaning = nullptr; // how errors state the range where the bounds alone do not say it
};

// Finite numbers between `min` and `max`, each bound included unless marked open.
struct NumberRange {
  double min = -std::numeric_limits<double>::max();
  double max = std::numeric_limits<double>::max();
  bool min_open = false;
  bool max_open = false;
};

bool contains(const IntRange& range, int64_t x);
bool contains(const NumberRange& range, double x); // and finite
// How an error states a range: "an integer >= 1", "an integer in [1, 1024]", "a number in (0, 1]".
std::string describe(const IntRange& range);
std::string describe(const NumberRange& range);

// Any value of the field's type (flags, paths, device names).
struct AnyValue {};

// One of named values: the names a reader accepts and writers print, and the value each stands for.
template <typename T>
struct Choice {
  std::vector<std::pair<std::string, T>> options;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& option : options) {
      out.push_back(option.first);
    }
    return out;
  }
  // The name of `value`; empty for a value no name stands for.
  std::string name_of(const T& value) const {
    for (const auto& option : options) {
      if (option.second == value) {
        return option.first;
      }
    }
    return {};
  }
  // The value `name` stands for; none for a name that is not an option.
  std::optional<T> value_of(std::string_view name) const {
    for (const auto& option : options) {
      if (option.first == name) {
        return option.second;
      }
    }
    return std::nullopt;
  }
  // The names, comma-separated, for messages.
  std::string known() const {
    std::string out;
    for (const auto& option : options) {
      out += (out.empty() ? "" : ", ") + option.first;
    }
    return out;
  }
};

// A string field that must be one of `names`.
inline Choice<std::string> one_of(const std::vector<std::string>& names) {
  Choice<std::string> c;
  for (const auto& name : names) {
    c.options.emplace_back(name, name);
  }
  return c;
}

// How a field stands in its struct beside its value.
struct FieldRole {
  // false: the field does not apply here (a stage-3 option under another stage): readers refuse its key, saying
  // `why_not`, and writers leave it out.
  bool applies = true;
  std::string why_not;
  // true: the field holds no value (no explicit layer list): writers leave it out, or give None.
  bool unset = false;
  // false: dump_config leaves the field out, so that configs written before the field existed read, and hash, as
  // before while it holds the value they meant.
  bool dumped = true;
};

inline FieldRole applies_when(bool applies, std::string why_not) {
  FieldRole r;
  r.applies = applies;
  r.why_not = std::move(why_not);
  return r;
}

inline FieldRole unset_when(bool unset) {
  FieldRole r;
  r.unset = unset;
  return r;
}

inline FieldRole dumped_when(bool dumped) {
  FieldRole r;
  r.dumped = dumped;
  return r;
}

// The keys of a table, in its order.
template <typename Config>
std::vector<std::string> field_keys(const Config& c) {
  std::vector<std::string> keys;
  visit_fields(c, [&keys](const char* key, const auto&, const auto&, const FieldRole& = {}) { keys.push_back(key); });
  return keys;
}

} // namespace arl2::io
