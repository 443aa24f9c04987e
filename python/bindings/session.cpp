// arl2._C's Session: a generation session without a fixed end (csrc/inference/session.h), iterated for its
// blocks, whose prompt switches at block boundaries and whose state forks, saves and loads (see bindings.h).
#include <memory>
#include <string>

#include <pybind11/stl.h>
#include <torch/python.h>

#include "bindings.h"
#include "inference/session.h"
#include "model/wan_dit.h"

namespace arl2::python {

void bind_session(py::module_& m) {
  using inference::Session;
  const auto generator = [](const std::shared_ptr<model::WanDiT>& model, const py::kwargs& options) {
    inference::GeneratorOptions o;
    set_fields(o, options, "Session", true);
    return inference::ARGenerator(model, o);
  };
  py::class_<Session>(
      m,
      "Session",
      "A generation session (csrc/inference/session.h): iterate it for its blocks [B, C, frames_per_block, H, W], "
      "without end. The prompt switches at any block boundary; the whole state forks, saves to one safetensors file "
      "and loads again, and a continuation after load equals one that never stopped, bit for bit. Memory stays flat: "
      "softmax layers need kv_window_frames. The keyword arguments are WanDiT.generate's.")
      .def(
          py::init([generator](
                       const std::shared_ptr<model::WanDiT>& model,
                       const at::Tensor& text,
                       uint64_t seed,
                       const py::kwargs& options) { return Session(generator(model, options), text, seed); }),
          py::arg("model"),
          py::arg("text"),
          py::arg("seed") = 0)
      .def_static(
          "load",
          [generator](const std::shared_ptr<model::WanDiT>& model, const std::string& path, const py::kwargs& options) {
            const auto g = generator(model, options);
            py::gil_scoped_release release;
            return Session::load(g, path);
          },
          py::arg("model"),
          py::arg("path"),
          "A session save() wrote, continuing on `model` with the generation options it was saved with.")
      .def("__iter__", [](Session& s) -> Session& { return s; })
      .def(
          "__next__",
          [](Session& s) {
            py::gil_scoped_release release;
            return s.next().latents;
          })
      .def(
          "set_prompt",
          &Session::set_prompt,
          py::arg("text"),
          py::arg("recache") = false,
          py::call_guard<py::gil_scoped_release>(),
          "The prompt [B, L, D] of the blocks from the next one on; recache makes the softmax layers' keys and values "
          "of the frames their windows hold again under it.")
      .def("fork", &Session::fork, "An independent copy that continues from here.")
      .def(
          "save",
          &Session::save,
          py::arg("path"),
          py::call_guard<py::gil_scoped_release>(),
          "The whole state as one safetensors file, written atomically.")
      .def_property_readonly("blocks_done", &Session::blocks_done)
      .def_property_readonly("frames_done", &Session::frames_done)
      .def_property_readonly("cache_bytes", &Session::cache_bytes)
      .def_property_readonly("prompt", &Session::prompt);
}

} // namespace arl2::python
