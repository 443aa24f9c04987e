// `arl2 toy-data`: training shards of the toy video domain (toy/), which needs no download. Clip i of a seed is
// the same on every machine and in every shard split. The shards are those train/clip_dataset.h reads, with the
// pixel clips as `latents` [N, F, 3, S, S] (the toy model works in pixel space, no VAE) and the prompts as
// one-hot `text_embeddings` [N, L, D] (toy/text.h says why), plus `token_ids` and `token_mask` [N, L] and the
// prompts and vocabulary in the metadata. Each shard is written atomically; one already in DIR from the same
// request is kept, one from another request is an error, not overwritten. --preview draws the first clips as PNG
// film strips.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "commands.h"
#include "generation_outputs.h"
#include "io/atomic_file.h"
#include "io/directories.h"
#include "io/png.h"
#include "resumable_shards.h"
#include "toy/clips.h"
#include "toy/prompt.h"
#include "toy/text.h"
#include "train/clip_dataset.h"

namespace arl2::cli {
namespace {

struct ToyDataArgs {
  std::string out_dir;
  int64_t clips = 0;
  int64_t shard_size = 256;
  int64_t preview = 0;
  uint64_t seed = 0;
  toy::ToyClipOptions options;
};

// Frame height of a preview: small clips are scaled up (nearest neighbour) to be seen.
constexpr int64_t kPreviewHeight = 128;

std::string joined(const std::vector<std::string>& lines, const char* separator) {
  std::string all;
  for (const auto& line : lines) {
    all += (all.empty() ? "" : separator) + line;
  }
  return all;
}

void write_previews(const ToyDataArgs& args) {
  const auto dir = args.out_dir + "/preview";
  io::make_directories(dir, "--out");
  const auto clips = toy::make_toy_clips(args.seed, 0, args.preview, args.options);
  for (int64_t i = 0; i < args.preview; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "/clip_%05lld.png", static_cast<long long>(i));
    const auto& frames = clips.pixels[i]; // [F, 3, S, S]
    const int64_t scale = std::max<int64_t>(1, kPreviewHeight / frames.size(-1));
    io::write_file_atomically(dir + name, io::encode_png(contact_sheet(frames, frames.size(0), scale)));
    std::fprintf(stderr, "preview: %s%s  %s\n", dir.c_str(), name, clips.prompts[static_cast<size_t>(i)].c_str());
  }
}

int run_toy_data(const ToyDataArgs& args) {
  toy::validate_toy_clip_options(args.options);
  TORCH_CHECK(
      args.preview >= 0 && args.preview <= args.clips,
      "--preview: expected 0 to --clips (",
      args.clips,
      ") clips, got ",
      args.preview);
  const auto& o = args.options;
  // What makes the shards what they are: a shard of another request is not this one's. The version names the
  // generator: a change to what a seed draws, or to how its prompt is embedded, must change it.
  const std::string request = "toy clips v2: seed " + std::to_string(args.seed) + ", " + std::to_string(args.clips) +
                              " clips of " + std::to_string(o.frames) + " frames at " + std::to_string(o.scene.size) +
                              "x" + std::to_string(o.scene.size) + ", up to " + std::to_string(o.scene.max_sprites) +
                              " sprites, text " + std::to_string(o.text_len) + " x " + std::to_string(o.text_dim) +
                              ", " + std::to_string(args.shard_size) + " clips per shard";
  io::make_directories(args.out_dir, "--out");
  const int64_t shards = (args.clips + args.shard_size - 1) / args.shard_size;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < shards; ++s) {
    const auto path = train::shard_path(args.out_dir, s);
    if (keep_existing_shard(path, "toy", request, s, shards)) {
      continue;
    }
    const int64_t first = s * args.shard_size, count = std::min(args.shard_size, args.clips - first);
    const auto clips = toy::make_toy_clips(args.seed, first, count, o);
    train::save_clip_shard(
        path,
        clips.pixels,
        clips.text_embeddings,
        {{"toy", request},
         {"first_clip", std::to_string(first)},
         {"prompts", joined(clips.prompts, "\n")},
         {"vocabulary", joined(toy::vocabulary(), " ")}},
        {{"token_ids", clips.tokens.ids}, {"token_mask", clips.tokens.mask}});
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(
        stderr,
        "shard %lld/%lld: wrote %s (clips %lld-%lld, %.1f s so far)\n",
        static_cast<long long>(s + 1),
        static_cast<long long>(shards),
        path.c_str(),
        static_cast<long long>(first),
        static_cast<long long>(first + count - 1),
        elapsed);
  }
  if (args.preview > 0) {
    write_previews(args);
  }
  std::printf(
      "%lld clips in %lld shards in %s: latents [N, %lld, 3, %lld, %lld] in [-1, 1], text %lld x %lld\n",
      static_cast<long long>(args.clips),
      static_cast<long long>(shards),
      args.out_dir.c_str(),
      static_cast<long long>(o.frames),
      static_cast<long long>(o.scene.size),
      static_cast<long long>(o.scene.size),
      static_cast<long long>(o.text_len),
      static_cast<long long>(o.text_dim));
  return 0;
}

} // namespace

Command add_toy_data_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "toy-data",
      "Write dataset shards of the toy video domain: coloured sprites bouncing in a square, with prompts that "
      "describe them (no download; the same seed gives the same clips on every machine)");
  auto args = std::make_shared<ToyDataArgs>();
  auto& o = args->options;
  cmd->add_option("--out", args->out_dir, "Folder of the shards (data.path of a training run)")->required();
  cmd->add_option("--clips", args->clips, "Number of clips")->required()->check(kCountRange);
  cmd->add_option("--frames", o.frames, "Frames per clip (default 16)")->check(kFramesRange);
  cmd->add_option("--size", o.scene.size, "Frame height and width in pixels, 8 to 4096 (default 32)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096})); // 8 and more: validate_scene_options
  cmd->add_option("--seed", args->seed, "Seed of the scenes: clip i depends on the seed and i alone (default 0)");
  cmd->add_option("--shard-size", args->shard_size, "Clips per shard file (default 256)")->check(kCountRange);
  cmd->add_option(
         "--text-len",
         o.text_len,
         "Text tokens per prompt, padded; the model's text_len, at least the longest prompt's " +
             std::to_string(toy::longest_prompt_tokens(o.scene.max_sprites)) + " (default 16)")
      ->check(kCountRange);
  cmd->add_option(
         "--text-dim",
         o.text_dim,
         "Width of the one-hot text embeddings (words and phrase positions); the model's text_dim, at least " +
             std::to_string(toy::min_text_dim()) + " (default 32)")
      ->check(kCountRange);
  cmd->add_option("--preview", args->preview, "Also draw the first N clips as PNG film strips in DIR/preview")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  return [args] { return run_toy_data(*args); };
}

} // namespace arl2::cli
