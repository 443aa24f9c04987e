// The `inference:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {

InferenceConfig read_inference_section(const YamlMap& s) {
  s.check_keys(
      {"denoising_steps",
       "shift",
       "warp",
       "context_timestep",
       "frames_per_block",
       "latent_height",
       "latent_width",
       "kv_window_frames",
       "kv_sink_frames",
       "cuda_graphs",
       "dtype",
       "device",
       "checkpoint",
       "hybrid_checkpoint"});
  InferenceConfig c;
  auto& g = c.generator;
  if (s.has("denoising_steps")) {
    g.schedule.denoising_steps = s.integers("denoising_steps");
  }
  if (s.has("shift")) {
    g.schedule.shift = s.number("shift");
  }
  if (s.has("warp")) {
    g.schedule.warp = s.boolean("warp");
  }
  if (s.has("context_timestep")) {
    g.context_timestep = s.number("context_timestep");
  }
  if (s.has("cuda_graphs")) {
    g.cuda_graphs = s.boolean("cuda_graphs");
  }
  const std::pair<const char*, int64_t*> integers[] = {
      {"frames_per_block", &g.frames_per_block},
      {"latent_height", &g.latent_height},
      {"latent_width", &g.latent_width},
      {"kv_window_frames", &g.kv.window_frames},
      {"kv_sink_frames", &g.kv.sink_frames}};
  for (const auto& [key, field] : integers) {
    if (s.has(key)) {
      *field = s.integer(key);
    }
  }
  if (s.has("dtype")) {
    c.dtype = s.choice("dtype", {"float32", "float64", "bfloat16"});
  }
  if (s.has("device")) {
    c.device = s.string("device");
  }
  if (s.has("checkpoint")) {
    c.checkpoint = s.string("checkpoint");
  }
  if (s.has("hybrid_checkpoint")) {
    c.hybrid_checkpoint = s.string("hybrid_checkpoint");
  }
  return c;
}

} // namespace arl2::config
