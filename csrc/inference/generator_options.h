// The options of autoregressive generation (generator.h), apart so that the config reader can hold them
// without the model's headers.
#pragma once

#include <cstdint>
#include <limits>

#include "inference/flow_matching.h"
#include "inference/memory_estimate.h"
#include "io/fields.h"

namespace arl2::inference {

struct GeneratorOptions {
  FlowMatchOptions schedule;
  double context_timestep = 0.0; // the clean pass's timestep (Self Forcing's context_noise)
  int64_t frames_per_block = 3;
  int64_t latent_height = 60; // 480 pixels
  int64_t latent_width = 104; // 832 pixels
  KVCachePolicy kv;           // softmax layers: the whole video preallocated, or a rolling window with sinks
  // Replay each block's denoising passes from a CUDA graph (pass_graph.h) where their shapes repeat from
  // block to block: on CUDA, for models whose every layer keeps a recurrent state (hybrid 100%).
  bool cuda_graphs = true;
  // Classifier-free guidance (guidance.h): each denoising pass predicts the flow under the prompt and under the
  // empty prompt, and samples along their guided combination; 1: the prompt's alone. Committed blocks enter
  // both halves' caches.
  double guidance_scale = 1.0;
  bool guided() const {
    return guidance_scale != 1.0;
  }
  // Batch items the model runs for each video: 2 under guidance, else 1.
  int64_t passes_per_video() const {
    return guided() ? 2 : 1;
  }
};

// The inference section's sampler and block layout (io/fields.h). Latent sizes are large enough for any video and
// small enough that their products fit 64 bits; how the values fit together is checked by the generator.
template <typename Self, typename Visitor, io::TableOf<Self, GeneratorOptions> = 0>
void visit_fields(Self& g, Visitor&& field) {
  constexpr io::IntRange kFrames{0, 1 << 20};
  constexpr io::IntRange kLatentSide{1, 1 << 16};
  const int64_t timesteps = g.schedule.num_train_timesteps;
  field("denoising_steps", g.schedule.denoising_steps, io::IntRange{1, timesteps});
  field("shift", g.schedule.shift, io::NumberRange{0, std::numeric_limits<double>::max(), true});
  field("warp", g.schedule.warp, io::AnyValue{});
  // Left out of run folders' configs at the defaults, so configs from before these keys hash as they did.
  field("sampler", g.schedule.sampler, samplers(), io::dumped_when(g.schedule.sampler != Sampler::kRenoise));
  field("context_timestep", g.context_timestep, io::NumberRange{0, static_cast<double>(timesteps)});
  field("guidance_scale", g.guidance_scale, io::NumberRange{0, 100}, io::dumped_when(g.guided()));
  field("frames_per_block", g.frames_per_block, io::IntRange{1, 1 << 10});
  field("latent_height", g.latent_height, kLatentSide);
  field("latent_width", g.latent_width, kLatentSide);
  field("kv_window_frames", g.kv.window_frames, kFrames);
  field("kv_sink_frames", g.kv.sink_frames, kFrames);
  field("cuda_graphs", g.cuda_graphs, io::AnyValue{});
}

} // namespace arl2::inference
