// arl2._C: the framework seen from Python, kept thin: load a YAML config, build a WanDiT from a preset or a
// dict of config fields, convert it to a hybrid, load and save its weights, run it in each attention mode,
// generate with it block by block (an iterator of finished blocks) or in a session, and train (a Trainer from a config file,
// step by step or as `arl2 train` runs with a callback per step, data-parallel over a torch.distributed
// process group when given one). Tensors and process groups cross through torch's own pybind11 casters
// (hence torch's bundled pybind11 headers). Each part is bound in a file of
// its own (bindings.h); python/arl2/_C.pyi mirrors them: change both together.
#include <exception>

#include <c10/util/Exception.h>
#include <pybind11/pybind11.h>

#include "bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  using namespace arl2;
  m.doc() = "arl2's C++ framework: configs, the Wan DiT and its hybrid, generation and training.";

  // c10::Error carries a C++ backtrace in what(); Python users get the message alone. Out-of-memory
  // keeps torch's own type, so callers catch torch.OutOfMemoryError here as around torch's ops.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) {
        std::rethrow_exception(p);
      }
    } catch (const c10::OutOfMemoryError& e) {
      PyErr_SetString(py::module_::import("torch").attr("OutOfMemoryError").ptr(), e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });

  python::bind_config(m);
  python::bind_trainer(m);
  python::bind_wan_dit(m);
  python::bind_session(m);
}
