// arl2._C's configs: load_config / parse_config give a validated Config whose sections read as the keyword
// arguments of WanDiT and its calls (see bindings.h).
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.h"
#include "config/config.h"

namespace arl2::python {

void bind_config(py::module_& m) {
  m.def("model_presets", &model::model_preset_names, "Names of the model presets.");

  py::class_<config::Config>(
      m, "Config", "A run's configuration, validated (csrc/config/config.h); from load_config or parse_config.")
      .def_property_readonly(
          "model",
          [](const config::Config& c) { return fields_to_dict(c.model); },
          "The model section: WanDiT's config argument.")
      .def_property_readonly(
          "hybrid",
          [](const config::Config& c) {
            return c.hybrid ? py::object(fields_to_dict(*c.hybrid)) : py::object(py::none());
          },
          "The hybrid section as WanDiT.convert_to_hybrid's keyword arguments; None without one.")
      .def_property_readonly(
          "generation",
          [](const config::Config& c) { return fields_to_dict(c.inference.generator); },
          "The inference section's sampler and block layout as WanDiT.generate's keyword arguments.")
      .def_property_readonly(
          "yaml",
          &config::dump_config,
          "Every value, defaults included, as YAML that reads back to this config (a run folder's config.yaml).")
      .def_property_readonly("hash", &config::config_hash, "Which configuration a checkpoint was written under.");

  m.def(
      "load_config",
      &config::load_config,
      py::arg("path"),
      py::arg("overrides") = std::vector<std::string>{},
      "Reads and validates a YAML config; overrides are 'key=value' strings as `arl2 train --set` takes them. An "
      "unknown key or a wrong type raises, naming the key path and the line.");
  m.def(
      "parse_config",
      &config::parse_config,
      py::arg("yaml"),
      py::arg("source") = "<string>",
      py::arg("overrides") = std::vector<std::string>{},
      "load_config from YAML text; source names it in errors.");
}

} // namespace arl2::python
