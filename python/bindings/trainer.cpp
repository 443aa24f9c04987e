// arl2._C's Trainer: a trainer from a config file, stepped from Python or run as `arl2 train` runs with a callback
// per step, data-parallel over a torch.distributed process group when given one (see bindings.h).
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>
#include <torch/python.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "bindings.h"
#include "dist/group.h"
#include "train/run_folder.h"
#include "train/trainer.h"
#include "train/training_run.h"

namespace arl2::python {
namespace {

// A Python torch.distributed ProcessGroup as the trainer's group; None: a world of one.
dist::Group group_from_python(const py::object& process_group, double timeout_s) {
  if (process_group.is_none()) {
    return {};
  }
  TORCH_CHECK(timeout_s > 0, "Trainer: timeout_s must be positive, got ", timeout_s);
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  try {
    group = process_group.cast<c10::intrusive_ptr<c10d::ProcessGroup>>();
  } catch (const py::cast_error&) {
    TORCH_CHECK(
        false,
        "Trainer: process_group must be a torch.distributed ProcessGroup (e.g. torch.distributed.group.WORLD), "
        "got ",
        py::str(py::type::of(process_group)).cast<std::string>());
  }
  return dist::Group(group, std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
}

py::dict step_to_dict(const train::StepResult& r) {
  py::dict out;
  out["step"] = r.step;
  out["loss"] = r.loss;
  out["grad_norm"] = r.grad_norm;
  out["lr"] = r.lr;
  out["layer_losses"] = r.layer_losses;
  return out;
}

} // namespace

void bind_trainer(py::module_& m) {
  py::class_<train::Trainer>(m, "Trainer", "The distillation trainer (csrc/train/trainer.h).")
      .def(
          py::init([](const std::string& config_path,
                      const std::vector<std::string>& overrides,
                      const py::object& process_group,
                      double timeout_s) {
            const auto config = config::load_config(config_path, overrides);
            auto group = group_from_python(process_group, timeout_s);
            py::gil_scoped_release release;
            return std::make_unique<train::Trainer>(config, config::config_hash(config), std::move(group));
          }),
          py::arg("config"),
          py::arg("overrides") = std::vector<std::string>{},
          py::arg("process_group") = py::none(),
          py::arg("timeout_s") = 600.0,
          "config: a YAML file; overrides: 'key=value' strings as `arl2 train --set` takes them. With a "
          "torch.distributed process_group the run is data-parallel over its ranks; a collective not done "
          "within timeout_s raises.")
      .def(
          "step",
          [](train::Trainer& t) {
            train::StepResult r;
            {
              py::gil_scoped_release release;
              r = t.step();
            }
            return step_to_dict(r);
          },
          "One optimizer step: a dict of step, loss, grad_norm, lr and (stage 1) layer_losses.")
      .def(
          "run",
          [](train::Trainer& t, const std::optional<py::function>& callback, bool overwrite) {
            py::gil_scoped_release release;
            std::optional<train::RunFolder> folder; // rank 0 writes the run folder
            if (t.group().rank() == 0) {
              folder.emplace(t.config().train.out, train::run_start(t.last_checkpoint(), overwrite));
            }
            train::run_training(t, folder ? &*folder : nullptr, stderr, [&](const train::StepResult& r) {
              if (callback) {
                py::gil_scoped_acquire acquire;
                (*callback)(step_to_dict(r));
              }
            });
          },
          py::arg("callback") = py::none(),
          py::arg("overwrite") = false,
          "Steps to train.steps as `arl2 train` does (progress lines on stderr; metrics.jsonl and checkpoints "
          "in train.out, written by rank 0, which locks it), calling callback with step()'s dict after every step; "
          "an exception it raises ends the run. A trainer that has not resumed or written a checkpoint starts a "
          "fresh run, which refuses a train.out holding a run unless overwrite (then that run's files are removed "
          "first); one that has continues the run, its metrics.jsonl cut to the steps before.")
      .def_property_readonly("config", &train::Trainer::config, py::return_value_policy::copy)
      .def_property_readonly(
          "last_checkpoint",
          &train::Trainer::last_checkpoint,
          "The checkpoint last written or "
          "resumed from, '' if none.")
      .def_property_readonly("steps_done", &train::Trainer::steps_done)
      .def(
          "trainable",
          [](const train::Trainer& t) {
            std::map<std::string, at::Tensor> d(t.trainable().begin(), t.trainable().end());
            return d;
          },
          "Name -> trainable parameter (the tensors themselves, not copies).")
      .def(
          "save_checkpoint",
          &train::Trainer::save_checkpoint,
          py::arg("path"),
          py::call_guard<py::gil_scoped_release>(),
          "Written by rank 0; the other ranks wait for it.")
      .def("resume", &train::Trainer::resume, py::arg("path"), py::call_guard<py::gil_scoped_release>());
}

} // namespace arl2::python
