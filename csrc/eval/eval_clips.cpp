// The evaluation clips (see eval_clips.h).
#include "eval/eval_clips.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "toy/prompt.h"
#include "toy/render.h"
#include "toy/text.h"

namespace arl2::eval {

EvalClips make_eval_clips(uint64_t seed, int64_t count, int64_t size, int64_t frames) {
  TORCH_CHECK(count > 0, "eval clips: expected at least one clip, got ", count);
  TORCH_CHECK(frames > 0, "eval clips: expected at least one frame, got ", frames);
  EvalClips clips;
  std::vector<at::Tensor> videos;
  for (int64_t i = 0; i < count; ++i) {
    clips.scenes.push_back(toy::sample_scene(seed, i, {size, toy::SceneOptions{}.max_sprites}));
    clips.prompts.push_back(toy::describe(clips.scenes.back()));
    std::vector<int> colours;
    for (const auto& words : toy::parse_prompt(clips.prompts.back())) {
      colours.push_back(words.colour);
    }
    clips.prompt_colours.push_back(std::move(colours));
    videos.push_back(toy::render_clip(clips.scenes.back(), frames).permute({1, 0, 2, 3}));
  }
  clips.truth = at::stack(videos).contiguous();
  return clips;
}

at::Tensor prompt_embeddings(const std::vector<std::string>& prompts, const model::ModelConfig& model) {
  return toy::one_hot_text_embeddings(toy::tokenize_prompts(prompts, model.text_len), model.text_dim);
}

} // namespace arl2::eval
