// `arl2 rollout`: training data without a video dataset. The teacher (the config's model and
// inference sections: inference.checkpoint, or random weights drawn from train.seed) generates a clip for
// each prompt embedding with the generator `arl2 generate` uses, and the clips go to DIR in shards that
// train/clip_dataset.h reads (shard_00000.safetensors, ...), each written atomically. A shard already in
// DIR from the same request is kept, so an interrupted rollout continues where it stopped; one from
// another request is an error, not overwritten.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "commands.h"
#include "config/config.h"
#include "generation_inputs.h"
#include "inference/generator.h"
#include "io/directories.h"
#include "io/file_fingerprint.h"
#include "io/output_paths.h"
#include "model/dtype_names.h"
#include "resumable_shards.h"
#include "train/clip_dataset.h"
#include "train/teacher.h"

namespace arl2::cli {
namespace {

struct RolloutArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string prompts_path;
  std::string out_dir;
  int64_t latent_frames = 0;
  int64_t clips_per_shard = 64;
  int64_t batch = 1;
  uint64_t seed = 0;
};

int run_rollout(const RolloutArgs& args) {
  const auto config = config::load_config(args.config_path, args.overrides);
  const auto& inf = config.inference;
  TORCH_CHECK(args.clips_per_shard > 0, "--clips-per-shard: expected a positive number, got ", args.clips_per_shard);
  TORCH_CHECK(args.batch > 0, "--batch: expected a positive number, got ", args.batch);
  const int64_t frames_per_block = inf.generator.frames_per_block;
  TORCH_CHECK(
      args.latent_frames >= 2 * frames_per_block,
      "--latent-frames: training learns each block from the blocks before it, so a clip needs two or more blocks of "
      "inference.frames_per_block (",
      frames_per_block,
      "), got ",
      args.latent_frames);
  check_inference_device(inf.device, args.config_path);
  const at::Device device(inf.device);
  const auto prompts = open_prompts(args.prompts_path);
  const auto text = prompts.tensor("text_embeddings");
  // The request, checked on the model's meta twin before any weights exist.
  const auto dtype = model::dtype_named(inf.dtype);
  const auto meta = std::make_shared<model::WanDiT>(config.model, at::TensorOptions().dtype(dtype).device(at::kMeta));
  inference::ARGenerator(meta, inf.generator).check_request(text, args.latent_frames);

  const int64_t clips = text.size(0);
  const int64_t shards = clips / args.clips_per_shard + (clips % args.clips_per_shard != 0 ? 1 : 0);
  // What makes the shards what they are: a shard of another request is not this rollout's.
  const std::string request = "config " + config::config_hash(config) + ", prompts " +
                              io::file_fingerprint(args.prompts_path) + ", " + std::to_string(args.latent_frames) +
                              " frames, seed " + std::to_string(args.seed) + ", batch " + std::to_string(args.batch) +
                              ", " + std::to_string(args.clips_per_shard) + " clips per shard";
  io::make_directories(args.out_dir, "--out");
  const std::vector<io::NamedPath> inputs = {
      {"--config", args.config_path}, {"--prompts", args.prompts_path}, {"inference.checkpoint", inf.checkpoint}};
  for (int64_t s = 0; s < shards; ++s) {
    io::check_output_file({"--out", train::shard_path(args.out_dir, s)}, inputs);
  }

  std::fprintf(
      stderr,
      "teacher: %lld layers, %s on %s, %s; %lld clips of %lld latent frames in %lld shards\n",
      static_cast<long long>(config.model.num_layers),
      inf.dtype.c_str(),
      inf.device.c_str(),
      inf.checkpoint.empty() ? "random weights (no inference.checkpoint)" : inf.checkpoint.c_str(),
      static_cast<long long>(clips),
      static_cast<long long>(args.latent_frames),
      static_cast<long long>(shards));
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  const auto teacher = train::make_teacher(config, inf.checkpoint, options);
  const inference::ARGenerator generator(teacher, inf.generator);

  const auto start = std::chrono::steady_clock::now();
  int64_t generated = 0;
  for (int64_t s = 0; s < shards; ++s) {
    const auto path = train::shard_path(args.out_dir, s);
    const int64_t first = s * args.clips_per_shard, end = std::min(clips, first + args.clips_per_shard);
    if (keep_existing_shard(path, "rollout", request, s, shards)) {
      continue;
    }
    std::vector<at::Tensor> latents;
    for (int64_t b = first; b < end; b += args.batch) {
      const int64_t n = std::min(args.batch, end - b);
      // [n, C, F, H, W] -> the shard's [n, F, C, H, W]; one seed per batch, fixed by its first clip.
      const auto video = generator.generate(
          text.slice(0, b, b + n).to(options), args.latent_frames, args.seed + static_cast<uint64_t>(b));
      latents.push_back(video.permute({0, 2, 1, 3, 4}).to(at::kCPU, at::kFloat).contiguous());
      generated += n;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(
          stderr,
          "clip %lld/%lld  shard %lld/%lld  %.2f s/clip  ETA %.0f s\n",
          static_cast<long long>(b + n),
          static_cast<long long>(clips),
          static_cast<long long>(s + 1),
          static_cast<long long>(shards),
          elapsed / static_cast<double>(generated),
          elapsed / static_cast<double>(generated) * static_cast<double>(clips - b - n));
    }
    train::save_clip_shard(
        path,
        at::cat(latents),
        text.slice(0, first, end).contiguous(),
        {{"rollout", request}, {"first_clip", std::to_string(first)}});
    std::fprintf(
        stderr,
        "shard %lld/%lld: wrote %s\n",
        static_cast<long long>(s + 1),
        static_cast<long long>(shards),
        path.c_str());
  }
  std::printf(
      "%lld clips in %lld shards in %s (%lld generated now)\n",
      static_cast<long long>(clips),
      static_cast<long long>(shards),
      args.out_dir.c_str(),
      static_cast<long long>(generated));
  return 0;
}

} // namespace

Command add_rollout_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "rollout", "Fill dataset shards with the teacher's own generations from prompt embeddings (data-free stage 2)");
  auto args = std::make_shared<RolloutArgs>();
  add_config_options(
      cmd, args->config_path, args->overrides, "YAML config: the teacher's model and inference sections");
  cmd->add_option(
         "--prompts", args->prompts_path, "safetensors file with text_embeddings [N, L, text_dim]: a clip each")
      ->required();
  cmd->add_option("--out", args->out_dir, "Folder of the shards (data.path of the training run)")->required();
  cmd->add_option(
         "--latent-frames", args->latent_frames, "Latent frames per clip, two or more whole blocks (21 -> 81 frames)")
      ->required()
      ->check(kFramesRange);
  cmd->add_option("--clips-per-shard", args->clips_per_shard, "Clips per shard file (default 64)")->check(kCountRange);
  cmd->add_option("--batch", args->batch, "Clips generated at once (default 1)")->check(kCountRange);
  cmd->add_option(
      "--seed", args->seed, "Seed of the noise; a batch's is seed + the index of its first clip (default 0)");
  return [args] { return run_rollout(*args); };
}

} // namespace arl2::cli
