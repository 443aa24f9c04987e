// arl2._C: the framework seen from Python, kept thin: load a YAML config, build a WanDiT from a preset or a
// dict of config fields, convert it to a hybrid, load and save its weights, run it in each attention mode,
// generate with it block by block (an iterator of finished blocks), and train (a Trainer from a config file,
// step by step or as `arl2 train` runs with a callback per step, data-parallel over a torch.distributed
// process group when given one). Tensors and process groups cross through torch's own pybind11 casters
// (hence torch's bundled pybind11 headers). python/arl2/_C.pyi mirrors this file: change both together.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/python.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "config/config.h"
#include "dist/group.h"
#include "inference/generator.h"
#include "model/config.h"
#include "model/conversion.h"
#include "model/dtype_names.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "train/model_from_config.h"
#include "train/run_folder.h"
#include "train/trainer.h"
#include "train/training_run.h"

namespace py = pybind11;

namespace arl2::python {
namespace {

using model::ModelConfig;

// Fields of `fields` override those of the preset it names under "preset" (Wan2.1-T2V-1.3B when
// absent); an unknown field is an error naming it.
ModelConfig config_from_dict(const py::dict& fields) {
  ModelConfig c = fields.contains("preset") ? model::model_preset(fields["preset"].cast<std::string>()) : ModelConfig{};
  for (const auto& [key, value] : fields) {
    const auto name = key.cast<std::string>();
    if (name == "preset") {
      continue;
    } else if (name == "dim") {
      c.dim = value.cast<int64_t>();
    } else if (name == "ffn_dim") {
      c.ffn_dim = value.cast<int64_t>();
    } else if (name == "num_heads") {
      c.num_heads = value.cast<int64_t>();
    } else if (name == "num_layers") {
      c.num_layers = value.cast<int64_t>();
    } else if (name == "patch") {
      c.patch = value.cast<std::array<int64_t, 3>>();
    } else if (name == "in_dim") {
      c.in_dim = value.cast<int64_t>();
    } else if (name == "out_dim") {
      c.out_dim = value.cast<int64_t>();
    } else if (name == "text_len") {
      c.text_len = value.cast<int64_t>();
    } else if (name == "text_dim") {
      c.text_dim = value.cast<int64_t>();
    } else if (name == "freq_dim") {
      c.freq_dim = value.cast<int64_t>();
    } else if (name == "eps") {
      c.eps = value.cast<double>();
    } else {
      TORCH_CHECK(false, "model config: unknown field '", name, "'");
    }
  }
  return c;
}

py::dict config_to_dict(const ModelConfig& c) {
  py::dict d;
  d["dim"] = c.dim;
  d["ffn_dim"] = c.ffn_dim;
  d["num_heads"] = c.num_heads;
  d["num_layers"] = c.num_layers;
  d["patch"] = c.patch;
  d["in_dim"] = c.in_dim;
  d["out_dim"] = c.out_dim;
  d["text_len"] = c.text_len;
  d["text_dim"] = c.text_dim;
  d["freq_dim"] = c.freq_dim;
  d["eps"] = c.eps;
  return d;
}

// The keyword arguments of WanDiT.convert_to_hybrid that the config's hybrid section stands for.
py::dict hybrid_to_dict(const model::HybridOptions& h) {
  py::dict d;
  d["layers"] = h.layers.empty() ? py::object(py::none()) : py::cast(h.layers);
  d["ratio"] = h.ratio ? py::object(py::float_(*h.ratio)) : py::object(py::none());
  for (const auto& name : model::layer_policy_names()) {
    if (model::layer_policy(name) == h.policy) {
      d["policy"] = name;
    }
  }
  d["lora"] = h.lora;
  d["lora_rank"] = h.lora_options.rank;
  d["lora_alpha"] = h.lora_options.alpha;
  d["ffn_lora_all_layers"] = h.ffn_lora_all_layers;
  return d;
}

// The keyword arguments of WanDiT.generate that the config's inference section stands for.
py::dict generation_to_dict(const inference::GeneratorOptions& g) {
  py::dict d;
  d["frames_per_block"] = g.frames_per_block;
  d["latent_height"] = g.latent_height;
  d["latent_width"] = g.latent_width;
  d["denoising_steps"] = g.schedule.denoising_steps;
  d["shift"] = g.schedule.shift;
  d["warp"] = g.schedule.warp;
  d["sampler"] = inference::name_of(g.schedule.sampler);
  d["context_timestep"] = g.context_timestep;
  d["guidance_scale"] = g.guidance_scale;
  d["kv_window_frames"] = g.kv.window_frames;
  d["kv_sink_frames"] = g.kv.sink_frames;
  d["cuda_graphs"] = g.cuda_graphs;
  return d;
}

// One cache per layer (KV cache or recurrent state), opaque to Python.
struct Caches {
  std::vector<model::LayerCache> layers;
};

py::dict diagnostics_to_dict(const model::HybridDiagnostics& d) {
  py::dict out;
  out["intra_rms"] = d.intra_rms;
  out["gated_memory_rms"] = d.gated_memory_rms;
  out["gate_mean"] = d.gate_mean;
  out["gate_saturation"] = d.gate_saturation;
  return out;
}

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
} // namespace arl2::python

PYBIND11_MODULE(_C, m) {
  using namespace arl2;
  using model::WanDiT;
  using python::Caches;
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

  m.def("model_presets", &model::model_preset_names, "Names of the model presets.");

  py::class_<config::Config>(
      m, "Config", "A run's configuration, validated (csrc/config/config.h); from load_config or parse_config.")
      .def_property_readonly(
          "model",
          [](const config::Config& c) { return python::config_to_dict(c.model); },
          "The model section: WanDiT's config argument.")
      .def_property_readonly(
          "hybrid",
          [](const config::Config& c) {
            return c.hybrid ? py::object(python::hybrid_to_dict(*c.hybrid)) : py::object(py::none());
          },
          "The hybrid section as WanDiT.convert_to_hybrid's keyword arguments; None without one.")
      .def_property_readonly(
          "generation",
          [](const config::Config& c) { return python::generation_to_dict(c.inference.generator); },
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

  py::class_<train::Trainer>(m, "Trainer", "The distillation trainer (csrc/train/trainer.h).")
      .def(
          py::init([](const std::string& config_path,
                      const std::vector<std::string>& overrides,
                      const py::object& process_group,
                      double timeout_s) {
            const auto config = config::load_config(config_path, overrides);
            auto group = python::group_from_python(process_group, timeout_s);
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
            return python::step_to_dict(r);
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
                (*callback)(python::step_to_dict(r));
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

  py::class_<Caches>(m, "Caches", "One cache per layer of a WanDiT (KV cache or recurrent state), for forward_cached.")
      .def_property_readonly("frames_committed", [](const Caches& c) { return c.layers.front().frames_committed(); })
      .def(
          "recurrent_state",
          [](const Caches& c, size_t layer) {
            const auto* state = c.layers.at(layer).as_recurrent_state();
            TORCH_CHECK(state != nullptr, "Caches: layer ", layer, " holds a KV cache, not a recurrent state");
            return state->state();
          },
          py::arg("layer"),
          "The recurrent state [B, H, D, D] of a hybrid layer.");

  py::class_<inference::GenerationRun>(
      m, "GenerationRun", "One video being generated: iterate it for its blocks [B, C, Fb, H, W] as they finish.")
      .def_property_readonly("num_blocks", &inference::GenerationRun::num_blocks)
      .def_property_readonly("blocks_done", &inference::GenerationRun::blocks_done)
      .def_property_readonly("cache_bytes", &inference::GenerationRun::cache_bytes)
      .def("__iter__", [](inference::GenerationRun& run) -> inference::GenerationRun& { return run; })
      .def("__next__", [](inference::GenerationRun& run) {
        if (run.done()) {
          throw py::stop_iteration();
        }
        py::gil_scoped_release release;
        return run.next().latents;
      });

  py::class_<WanDiT, std::shared_ptr<WanDiT>>(m, "WanDiT", "The Wan2.1 causal DiT (csrc/model/wan_dit.h).")
      .def(
          py::init([](const py::object& config, const std::string& dtype, const std::string& device) {
            const auto c = py::isinstance<py::str>(config) ? model::model_preset(config.cast<std::string>())
                                                           : python::config_from_dict(config.cast<py::dict>());
            return std::make_shared<WanDiT>(
                c, at::TensorOptions().dtype(model::dtype_named(dtype)).device(at::Device(device)));
          }),
          py::arg("config"),
          py::arg("dtype") = "float32",
          py::arg("device") = "cpu",
          "config: a preset name, or a dict of ModelConfig fields (with an optional 'preset' to start from).")
      .def_static(
          "from_config",
          [](const config::Config& c,
             const std::optional<std::string>& dtype,
             const std::optional<std::string>& device,
             bool ema) {
            const auto options = at::TensorOptions()
                                     .dtype(model::dtype_named(dtype.value_or(c.inference.dtype)))
                                     .device(at::Device(device.value_or(c.inference.device)));
            return train::model_from_config(
                c, options, ema ? train::TrainedWeights::kEma : train::TrainedWeights::kRaw);
          },
          py::arg("config"),
          py::arg("dtype") = py::none(),
          py::arg("device") = py::none(),
          py::arg("ema") = false,
          py::call_guard<py::gil_scoped_release>(),
          "The model a config's inference section describes, as `arl2 generate` builds it (train/model_from_config.h): "
          "the teacher from inference.checkpoint, converted by the hybrid section, the trained hybrid from "
          "inference.hybrid_checkpoint (an exported file, or a training checkpoint, whose EMA `ema` picks). dtype "
          "and device default to the inference section's.")
      .def_property_readonly("config", [](const WanDiT& w) { return python::config_to_dict(w.config()); })
      .def(
          "parameter_shapes",
          [](const WanDiT& w) { return model::parameter_shapes(w); },
          "Name -> shape of every parameter (Wan's state-dict names).")
      .def(
          "state_dict",
          [](const WanDiT& w) {
            std::map<std::string, at::Tensor> d;
            for (const auto& p : w.named_parameters()) {
              d.emplace(p.key(), p.value());
            }
            return d;
          },
          "Name -> parameter (the tensors themselves, not copies).")
      .def(
          "load",
          [](WanDiT& w, const std::string& path) { model::load_weights(w, path); },
          py::arg("path"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "save",
          [](const WanDiT& w, const std::string& path) { model::save_weights(w, path); },
          py::arg("path"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "forward_block_causal",
          &WanDiT::forward_block_causal,
          py::arg("x"),
          py::arg("timesteps"),
          py::arg("context"),
          py::arg("frames_per_block"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "forward_teacher_forcing",
          &WanDiT::forward_teacher_forcing,
          py::arg("noisy"),
          py::arg("noisy_timesteps"),
          py::arg("clean"),
          py::arg("clean_timesteps"),
          py::arg("context"),
          py::arg("frames_per_block"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "convert_to_hybrid",
          [](WanDiT& w,
             const std::optional<std::vector<int64_t>>& layers,
             const std::optional<double>& ratio,
             const std::string& policy,
             bool lora,
             int64_t lora_rank,
             double lora_alpha,
             bool ffn_lora_all_layers) {
            model::HybridOptions o;
            o.layers = layers.value_or(std::vector<int64_t>{});
            o.ratio = ratio;
            o.policy = model::layer_policy(policy);
            o.lora = lora;
            o.lora_options = {lora_rank, lora_alpha};
            o.ffn_lora_all_layers = ffn_lora_all_layers;
            return model::convert_to_hybrid(w, o);
          },
          py::arg("layers") = py::none(),
          py::arg("ratio") = py::none(),
          py::arg("policy") = "first",
          py::arg("lora") = false,
          py::arg("lora_rank") = 16,
          py::arg("lora_alpha") = 32.0,
          py::arg("ffn_lora_all_layers") = false,
          "Converts layers in place (a list, or a ratio with a policy); freezes every base parameter. With lora, "
          "adapters on the memory path and the hybrid layers' FFN (every layer's FFN with ffn_lora_all_layers). "
          "Returns the converted layers.")
      .def(
          "merge_ffn_lora",
          [](WanDiT& w) { model::merge_ffn_lora(w); },
          "Folds the FFN adapters into their weights and removes them, as `arl2 export` and "
          "`arl2 generate` do; the memory path's adapters stay.")
      .def(
          "parameter_groups",
          [](const WanDiT& w) {
            std::map<std::string, std::vector<std::string>> groups;
            for (const auto& g : model::group_parameters(w)) {
              auto& names = groups[g.name];
              for (const auto& p : g.parameters) {
                names.push_back(p.first);
              }
            }
            return groups;
          },
          "Group name (base, hybrid, lora) -> parameter names.")
      .def(
          "set_diagnostics",
          [](WanDiT& w, bool on) {
            for (auto& layer : model::hybrid_layers(w)) {
              layer.second->set_diagnostics(on);
            }
          },
          py::arg("on"),
          "Turns the hybrid layers' diagnostics on or off.")
      .def(
          "diagnostics",
          [](const WanDiT& w) {
            py::dict out;
            for (const auto& [index, layer] : model::hybrid_layers(w)) {
              if (layer->diagnostics()) {
                out[py::int_(index)] = python::diagnostics_to_dict(*layer->diagnostics());
              }
            }
            return out;
          },
          "Layer index -> the last forward's diagnostics, for hybrid layers recording them.")
      .def(
          "make_caches",
          [](const WanDiT& w,
             int64_t batch,
             int64_t height,
             int64_t width,
             int64_t frames,
             int64_t sink_frames,
             bool rolling) {
            return Caches{w.make_caches(batch, height, width, model::KVCacheSpec{frames, sink_frames, rolling})};
          },
          py::arg("batch"),
          py::arg("height"),
          py::arg("width"),
          py::arg("frames"),
          py::arg("sink_frames") = 0,
          py::arg("rolling") = false)
      .def(
          "forward_cached",
          [](const WanDiT& w,
             const at::Tensor& x,
             const at::Tensor& t,
             const at::Tensor& context,
             Caches& caches,
             bool write_cache) { return w.forward_cached(x, t, context, caches.layers, write_cache); },
          py::arg("x"),
          py::arg("timesteps"),
          py::arg("context"),
          py::arg("caches"),
          py::arg("write_cache"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "commit_cached",
          [](const WanDiT& w, const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Caches& caches) {
            w.commit_cached(x, t, context, caches.layers);
          },
          "forward_cached with write_cache=True without the prediction: the last layer only writes its cache.",
          py::arg("x"),
          py::arg("timesteps"),
          py::arg("context"),
          py::arg("caches"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "generate",
          [](const std::shared_ptr<WanDiT>& w,
             const at::Tensor& text,
             int64_t latent_frames,
             uint64_t seed,
             int64_t frames_per_block,
             int64_t latent_height,
             int64_t latent_width,
             const std::vector<int64_t>& denoising_steps,
             double shift,
             bool warp,
             const std::string& sampler,
             double context_timestep,
             double guidance_scale,
             int64_t kv_window_frames,
             int64_t kv_sink_frames,
             bool cuda_graphs) {
            inference::GeneratorOptions o;
            o.schedule.denoising_steps = denoising_steps;
            o.schedule.shift = shift;
            o.schedule.warp = warp;
            o.schedule.sampler = inference::sampler_from_name(sampler);
            o.context_timestep = context_timestep;
            o.guidance_scale = guidance_scale;
            o.frames_per_block = frames_per_block;
            o.latent_height = latent_height;
            o.latent_width = latent_width;
            o.kv = {kv_window_frames, kv_sink_frames};
            o.cuda_graphs = cuda_graphs;
            return inference::ARGenerator(w, o).start(text, latent_frames, seed);
          },
          py::arg("text"),
          py::arg("latent_frames"),
          py::arg("seed") = 0,
          py::arg("frames_per_block") = 3,
          py::arg("latent_height") = 60,
          py::arg("latent_width") = 104,
          py::arg("denoising_steps") = std::vector<int64_t>{1000, 750, 500, 250},
          py::arg("shift") = 5.0,
          py::arg("warp") = true,
          py::arg("sampler") = "renoise",
          py::arg("context_timestep") = 0.0,
          py::arg("guidance_scale") = 1.0,
          py::arg("kv_window_frames") = 0,
          py::arg("kv_sink_frames") = 0,
          py::arg("cuda_graphs") = true,
          "Starts generating (csrc/inference/generator.h): checks the request, allocates the caches and "
          "returns an iterator of the finished blocks [B, C, frames_per_block, H, W].");
}
