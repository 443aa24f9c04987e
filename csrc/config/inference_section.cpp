// The `inference:` section (see sections.h).
#include "config/sections.h"
#include "model/dtype_names.h"

namespace arl2::config {
namespace {

// Latent sizes large enough for any video, small enough that their products fit 64 bits.
constexpr IntRange kFrames{0, 1 << 20};
constexpr IntRange kLatentSide{1, 1 << 16};

} // namespace

InferenceConfig read_inference_section(const YamlMap& s) {
  s.check_keys(
      {"denoising_steps",
       "shift",
       "warp",
       "sampler",
       "context_timestep",
       "guidance_scale",
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
  const int64_t timesteps = g.schedule.num_train_timesteps;
  if (s.has("denoising_steps")) {
    g.schedule.denoising_steps = s.integers("denoising_steps", {1, timesteps});
  }
  s.read("shift", g.schedule.shift, {0, std::numeric_limits<double>::max(), true});
  s.read("warp", g.schedule.warp);
  if (s.has("sampler")) {
    g.schedule.sampler = inference::sampler_from_name(s.choice("sampler", {"renoise", "euler"}));
  }
  s.read("context_timestep", g.context_timestep, {0, static_cast<double>(timesteps)});
  s.read("guidance_scale", g.guidance_scale, {0, 100});
  s.read("cuda_graphs", g.cuda_graphs);
  s.read("frames_per_block", g.frames_per_block, {1, 1 << 10});
  s.read("latent_height", g.latent_height, kLatentSide);
  s.read("latent_width", g.latent_width, kLatentSide);
  s.read("kv_window_frames", g.kv.window_frames, kFrames);
  s.read("kv_sink_frames", g.kv.sink_frames, kFrames);
  if (s.has("dtype")) {
    c.dtype = s.choice("dtype", model::dtype_names());
  }
  s.read("device", c.device);
  s.read("checkpoint", c.checkpoint);
  s.read("hybrid_checkpoint", c.hybrid_checkpoint);
  return c;
}

} // namespace arl2::config
