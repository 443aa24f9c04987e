// Config sections as the keyword arguments of the bound calls, and back (see bindings.h).
#include <array>
#include <string>

#include <pybind11/stl.h>

#include "bindings.h"
#include "inference/flow_matching.h"

namespace arl2::python {

model::ModelConfig config_from_dict(const py::dict& fields) {
  model::ModelConfig c =
      fields.contains("preset") ? model::model_preset(fields["preset"].cast<std::string>()) : model::ModelConfig{};
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

py::dict config_to_dict(const model::ModelConfig& c) {
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

} // namespace arl2::python
