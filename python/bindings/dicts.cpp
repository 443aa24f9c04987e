// A config struct's field table (io/fields.h) as a dict and as keyword arguments (see bindings.h).
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <c10/util/Exception.h>
#include <pybind11/stl.h>

#include "bindings.h"

namespace arl2::python {
namespace {

std::string type_name(const py::handle& value) {
  return py::str(py::type::handle_of(value).attr("__name__"));
}

// `value` as an integer (not a bool, which Python counts as one), or the error naming `path`.
int64_t integer(const py::handle& value, const std::string& path) {
  if (!py::isinstance<py::int_>(value) || py::isinstance<py::bool_>(value)) {
    throw py::type_error(path + ": expected an integer, got " + type_name(value));
  }
  return value.cast<int64_t>();
}

int64_t integer_in(const py::handle& value, const std::string& path, const io::IntRange& range) {
  const auto x = integer(value, path);
  TORCH_CHECK(io::contains(range, x), path, ": expected ", io::describe(range), ", got ", x);
  return x;
}

double number_in(const py::handle& value, const std::string& path, const io::NumberRange& range) {
  if (!(py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)) || py::isinstance<py::bool_>(value)) {
    throw py::type_error(path + ": expected a number, got " + type_name(value));
  }
  const auto x = value.cast<double>();
  TORCH_CHECK(io::contains(range, x), path, ": expected ", io::describe(range), ", got ", x);
  return x;
}

std::vector<int64_t> integers_in(const py::handle& value, const std::string& path, const io::IntRange& range) {
  if (!py::isinstance<py::sequence>(value) || py::isinstance<py::str>(value)) {
    throw py::type_error(path + ": expected a list of integers, got " + type_name(value));
  }
  std::vector<int64_t> out;
  for (const auto& item : value.cast<py::sequence>()) {
    out.push_back(integer_in(item, path + "[" + std::to_string(out.size()) + "]", range));
  }
  return out;
}

std::string string(const py::handle& value, const std::string& path) {
  if (!py::isinstance<py::str>(value)) {
    throw py::type_error(path + ": expected a string, got " + type_name(value));
  }
  return value.cast<std::string>();
}

// Reads one field from `value` as the config file's reader would (config/yaml_map.h).
template <typename T, typename Accepts>
void set_field(T& field, const Accepts& accepts, const py::handle& value, const std::string& path) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!py::isinstance<py::bool_>(value)) {
      throw py::type_error(path + ": expected True or False, got " + type_name(value));
    }
    field = value.cast<bool>();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    field = integer_in(value, path, accepts);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    field = static_cast<uint64_t>(integer_in(value, path, accepts));
  } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::optional<double>>) {
    field = number_in(value, path, accepts);
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    field = integers_in(value, path, accepts);
  } else if constexpr (std::is_same_v<T, std::array<int64_t, 3>>) {
    const auto values = integers_in(value, path, accepts);
    TORCH_CHECK(values.size() == 3, path, ": expected 3 integers, got ", values.size());
    field = {values[0], values[1], values[2]};
  } else if constexpr (std::is_same_v<Accepts, io::AnyValue>) {
    static_assert(std::is_same_v<T, std::string>, "a field of a type set_fields cannot read");
    field = string(value, path);
  } else { // a Choice
    const auto name = string(value, path);
    const auto chosen = accepts.value_of(name);
    TORCH_CHECK(chosen, path, " '", name, "' is unknown; known: ", accepts.known());
    field = *chosen;
  }
}

} // namespace

template <typename Config>
py::dict fields_to_dict(const Config& config) {
  py::dict d;
  visit_fields(config, [&d](const char* key, const auto& field, const auto& accepts, const io::FieldRole& role = {}) {
    using T = std::decay_t<decltype(field)>;
    using Accepts = std::decay_t<decltype(accepts)>;
    if (!role.applies) {
      return;
    }
    if (role.unset) {
      d[key] = py::none();
    } else if constexpr (
        std::is_same_v<Accepts, io::IntRange> || std::is_same_v<Accepts, io::NumberRange> ||
        std::is_same_v<Accepts, io::AnyValue>) {
      d[key] = py::cast(field); // std::nullopt as None
    } else {
      d[key] = accepts.name_of(field);
    }
  });
  return d;
}

template <typename Config>
void set_fields(Config& config, const py::dict& values, const std::string& section, bool keyword_arguments) {
  const auto known = io::field_keys(config);
  for (const auto& [key, value] : values) {
    const auto name = py::str(key).cast<std::string>();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string names;
      for (const auto& k : known) {
        names += (names.empty() ? "" : ", ") + k;
      }
      const auto message = section + ": unknown field '" + name + "'; known fields: " + names;
      if (keyword_arguments) {
        throw py::type_error(message);
      }
      TORCH_CHECK(false, message);
    }
  }
  visit_fields(config, [&](const char* key, auto& field, const auto& accepts, const io::FieldRole& role = {}) {
    if (!values.contains(key) || values[key].is_none()) {
      return;
    }
    const auto path = section + "." + key;
    TORCH_CHECK(role.applies, path, ": ", role.why_not);
    set_field(field, accepts, values[key], path);
  });
}

model::ModelConfig config_from_dict(const py::dict& fields) {
  auto config =
      fields.contains("preset") ? model::model_preset(string(fields["preset"], "model.preset")) : model::ModelConfig{};
  py::dict others;
  for (const auto& [key, value] : fields) {
    if (py::str(key).cast<std::string>() != "preset") {
      others[key] = value;
    }
  }
  set_fields(config, others, "model", false);
  return config;
}

template py::dict fields_to_dict(const model::ModelConfig&);
template py::dict fields_to_dict(const model::HybridOptions&);
template py::dict fields_to_dict(const inference::GeneratorOptions&);
template void set_fields(model::ModelConfig&, const py::dict&, const std::string&, bool);
template void set_fields(model::HybridOptions&, const py::dict&, const std::string&, bool);
template void set_fields(inference::GeneratorOptions&, const py::dict&, const std::string&, bool);

} // namespace arl2::python
