// Batches of toy clips (see clips.h).
#include "toy/clips.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "toy/prompt.h"
#include "toy/render.h"

namespace arl2::toy {

void validate_toy_clip_options(const ToyClipOptions& options) {
  validate_scene_options(options.scene);
  TORCH_CHECK(options.frames > 0, "toy clips: frames must be positive, got ", options.frames);
  const int64_t longest = longest_prompt_tokens(options.scene.max_sprites);
  TORCH_CHECK(
      options.text_len >= longest,
      "toy clips: text_len (",
      options.text_len,
      ") must hold the longest prompt, ",
      longest,
      " words for ",
      options.scene.max_sprites,
      " sprites");
  check_one_hot_text_dim(options.text_dim);
}

ToyClips make_toy_clips(uint64_t seed, int64_t first, int64_t count, const ToyClipOptions& options) {
  validate_toy_clip_options(options);
  TORCH_CHECK(first >= 0 && count > 0, "toy clips: expected first >= 0 and count > 0, got ", first, " and ", count);
  ToyClips clips;
  std::vector<at::Tensor> pixels;
  for (int64_t i = first; i < first + count; ++i) {
    clips.scenes.push_back(sample_scene(seed, i, options.scene));
    clips.prompts.push_back(describe(clips.scenes.back()));
    pixels.push_back(render_clip(clips.scenes.back(), options.frames));
  }
  clips.pixels = at::stack(pixels);
  clips.tokens = tokenize_prompts(clips.prompts, options.text_len);
  clips.text_embeddings = one_hot_text_embeddings(clips.tokens, options.text_dim);
  return clips;
}

} // namespace arl2::toy
