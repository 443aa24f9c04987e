// The pieces of arl2._C (module.cpp): each file binds one part of the framework, and the conversions between the
// config sections and the keyword arguments of the bound calls are shared here. python/arl2/_C.pyi mirrors the
// bindings: change both together.
#pragma once

#include <pybind11/pybind11.h>

#include "inference/generator_options.h"
#include "model/config.h"
#include "model/conversion.h"

namespace arl2::python {

namespace py = pybind11;

// Fields of `fields` override those of the preset it names under "preset" (Wan2.1-T2V-1.3B when
// absent); an unknown field is an error naming it.
model::ModelConfig config_from_dict(const py::dict& fields);
py::dict config_to_dict(const model::ModelConfig& c);
// The keyword arguments of WanDiT.convert_to_hybrid that the config's hybrid section stands for.
py::dict hybrid_to_dict(const model::HybridOptions& h);
// The keyword arguments of WanDiT.generate that the config's inference section stands for.
py::dict generation_to_dict(const inference::GeneratorOptions& g);

// load_config, parse_config, Config and model_presets (config.cpp).
void bind_config(py::module_& m);
// Trainer (trainer.cpp).
void bind_trainer(py::module_& m);
// WanDiT, its Caches and GenerationRun (wan_dit.cpp).
void bind_wan_dit(py::module_& m);

} // namespace arl2::python
