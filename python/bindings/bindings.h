// The pieces of arl2._C (module.cpp): each file binds one part of the framework, and the conversions between the
// config sections and the keyword arguments of the bound calls are shared here: they walk each struct's field
// table (io/fields.h), so the keys, the checks and the defaults are the C++ ones. python/arl2/_C.pyi mirrors the
// bindings: change both together.
#pragma once

#include <string>

#include <pybind11/pybind11.h>

#include "inference/generator_options.h"
#include "model/config.h"
#include "model/conversion.h"

namespace arl2::python {

namespace py = pybind11;

// Every field of `config`'s table: unset ones as None, choices by name. For ModelConfig, HybridOptions and
// GeneratorOptions: the model dict, and the keyword arguments of WanDiT.convert_to_hybrid and WanDiT.generate.
template <typename Config>
py::dict fields_to_dict(const Config& config);

// Sets the fields that `values` gives (None leaves a field alone), each checked as the config file's reader checks
// it; errors name `section`.key. A key outside the table raises TypeError for keyword arguments, else RuntimeError.
template <typename Config>
void set_fields(Config& config, const py::dict& values, const std::string& section, bool keyword_arguments);

// Fields of `fields` override those of the preset it names under "preset" (Wan2.1-T2V-1.3B when absent).
model::ModelConfig config_from_dict(const py::dict& fields);

// load_config, parse_config, Config and model_presets (config.cpp).
void bind_config(py::module_& m);
// Trainer (trainer.cpp).
void bind_trainer(py::module_& m);
// WanDiT, its Caches and GenerationRun (wan_dit.cpp).
void bind_wan_dit(py::module_& m);
// Session (session.cpp).
void bind_session(py::module_& m);

} // namespace arl2::python
