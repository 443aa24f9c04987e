// Rollouts and their metrics (see rollout_metrics.h).
#include "eval/rollout_metrics.h"

#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "inference/generator.h"

namespace arl2::eval {

toy::ClipMetrics mean_clip_metrics(
    const at::Tensor& videos,
    const std::vector<std::vector<int>>& prompt_colours,
    const toy::FrameAnalysisOptions& options) {
  TORCH_CHECK(
      videos.dim() == 5 && videos.size(0) == static_cast<int64_t>(prompt_colours.size()),
      "clip metrics: expected videos [N, 3, F, H, W] for ",
      prompt_colours.size(),
      " prompts, got ",
      videos.sizes());
  std::vector<toy::ClipMetrics> clips;
  for (int64_t i = 0; i < videos.size(0); ++i) {
    clips.push_back(toy::clip_metrics(videos[i].transpose(0, 1), prompt_colours[static_cast<size_t>(i)], options));
  }
  return toy::mean_over_clips(clips);
}

toy::ClipMetrics rollout_metrics(
    std::shared_ptr<const model::WanDiT> model,
    const inference::GeneratorOptions& options,
    const at::Tensor& text,
    const std::vector<std::vector<int>>& prompt_colours,
    int64_t frames,
    uint64_t seed,
    const toy::FrameAnalysisOptions& analysis,
    const std::function<void(int64_t frames_done)>& on_block) {
  const inference::ARGenerator generator(std::move(model), options);
  auto run = generator.start(text, frames, seed);
  std::vector<at::Tensor> blocks;
  int64_t done = 0;
  while (!run.done()) {
    blocks.push_back(run.next().latents.to(at::kCPU, at::kFloat));
    done += options.frames_per_block;
    if (on_block) {
      on_block(done);
    }
  }
  return mean_clip_metrics(at::cat(blocks, 2), prompt_colours, analysis);
}

} // namespace arl2::eval
