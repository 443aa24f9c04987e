// arl2._C's WanDiT: built from a preset, a dict of config fields or a config; converted to a hybrid; its weights
// loaded and saved; run in each attention mode; generating block by block as an iterator of finished blocks (see
// bindings.h).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>
#include <torch/python.h>

#include "bindings.h"
#include "inference/generator.h"
#include "model/dtype_names.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "train/model_from_config.h"

namespace arl2::python {
namespace {

using model::WanDiT;

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

// `doc`, then what the keyword arguments are (`fields`, a config section's) and the defaults of those left out.
template <typename Config>
std::string keyword_doc(const std::string& doc, const std::string& fields, const Config& defaults) {
  std::string text;
  for (const auto& [key, value] : fields_to_dict(defaults)) {
    text += (text.empty() ? "" : ", ") + std::string(py::str(key)) + "=" + std::string(py::repr(value));
  }
  return doc + " The keyword arguments are " + fields +
         ", checked as the config reader checks them; their defaults: " + text + ".";
}

} // namespace

void bind_wan_dit(py::module_& m) {
  // pybind11 keeps the pointers: the texts live as long as the module.
  static const std::string hybrid_doc = keyword_doc(
      "Converts layers in place (a list, or a ratio with a policy); freezes every base parameter. With lora, adapters "
      "on the memory path and the hybrid layers' FFN (every layer's FFN with ffn_lora_all_layers). Returns the "
      "converted layers.",
      "the fields of a config's hybrid section (Config.hybrid)",
      model::HybridOptions{});
  static const std::string generate_doc = keyword_doc(
      "Starts generating (csrc/inference/generator.h): checks the request, allocates the caches and returns an "
      "iterator of the finished blocks [B, C, frames_per_block, H, W].",
      "the sampler and block layout of a config's inference section (Config.generation)",
      inference::GeneratorOptions{});
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
                                                           : config_from_dict(config.cast<py::dict>());
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
      .def_property_readonly("config", [](const WanDiT& w) { return fields_to_dict(w.config()); })
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
          [](WanDiT& w, const py::kwargs& options) {
            model::HybridOptions o;
            set_fields(o, options, "hybrid", true);
            return model::convert_to_hybrid(w, o);
          },
          hybrid_doc.c_str())
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
                out[py::int_(index)] = diagnostics_to_dict(*layer->diagnostics());
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
             const py::kwargs& options) {
            inference::GeneratorOptions o;
            set_fields(o, options, "generate", true);
            return inference::ARGenerator(w, o).start(text, latent_frames, seed);
          },
          py::arg("text"),
          py::arg("latent_frames"),
          py::arg("seed") = 0,
          generate_doc.c_str());
}

} // namespace arl2::python
