// A struct's field table (io/fields.h) as a JSON object, for the metrics a run writes: every field that applies,
// unset ones as null, choices by name.
#pragma once

#include <type_traits>

#include <nlohmann/json.hpp>

#include "io/fields.h"

namespace arl2::io {

template <typename Config>
nlohmann::json fields_to_json(const Config& config) {
  auto out = nlohmann::json::object();
  visit_fields(config, [&out](const char* key, const auto& field, const auto& accepts, const FieldRole& role = {}) {
    using Accepts = std::decay_t<decltype(accepts)>;
    if (!role.applies) {
      return;
    }
    if (role.unset) {
      out[key] = nullptr;
    } else if constexpr (
        std::is_same_v<Accepts, IntRange> || std::is_same_v<Accepts, NumberRange> ||
        std::is_same_v<Accepts, AnyValue>) {
      out[key] = field;
    } else {
      out[key] = accepts.name_of(field);
    }
  });
  return out;
}

} // namespace arl2::io
