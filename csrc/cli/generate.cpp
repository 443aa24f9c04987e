// `arl2 generate`: a video's latents from prompts' text embeddings (scripts/encode_prompts.py), block
// by block with the configured model (teacher or hybrid; a hybrid's weights from a weights file, as
// `arl2 export` writes, or from a training checkpoint over its base weights). Everything that can be wrong with the
// request is checked, and the memory estimate printed, before any weights are allocated; then one
// progress line per block, and DIR/latents.safetensors plus DIR/metrics.json at the end.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config/config.h"
#include "generation_inputs.h"
#include "generation_outputs.h"
#include "inference/device_memory.h"
#include "inference/generator.h"
#include "inference/memory_estimate.h"
#include "io/atomic_file.h"
#include "io/directories.h"
#include "io/fields_json.h"
#include "io/output_paths.h"
#include "io/safetensors.h"
#include "model/conversion.h"
#include "model/dtype_names.h"
#include "model/wan_dit.h"
#include "train/model_from_config.h"
#include "train/teacher.h"

namespace arl2::cli {
namespace {

struct GenerateArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string prompts_path;
  int64_t latent_frames = 0;
  std::string out_dir;
  uint64_t seed = 0;
  bool ema = false;
  std::string switch_prompts_path; // prompts that take over at latent frame switch_at
  int64_t switch_at = 0;
};

int64_t parameter_count(const model::WanDiT& dit) {
  int64_t n = 0;
  for (const auto& p : dit.parameters()) {
    n += p.numel();
  }
  return n;
}

// Makes the output folder and checks the files it will hold, before any work.
void prepare_outputs(const GenerateArgs& args, const config::Config& config, const std::string& metrics_path) {
  io::make_directories(args.out_dir, "--out");
  auto inputs = train::weights_files(config);
  inputs.push_back({"--config", args.config_path});
  inputs.push_back({"--prompts", args.prompts_path});
  if (!args.switch_prompts_path.empty()) {
    inputs.push_back({"--switch-prompts", args.switch_prompts_path});
  }
  for (const auto& output : {latents_path(args.out_dir), metrics_path}) {
    io::check_output_file({"--out", output}, inputs);
  }
}

// What the request will hold, from the model built on the meta device (no memory, no work yet).
struct CheckedRequest {
  inference::MemoryEstimate estimate;
  int64_t hybrid_layers = 0;
};

// Checks the request against the model and its memory estimate against the device's free memory, before any work.
CheckedRequest check_request(
    const config::Config& config, const GenerateArgs& args, const at::Tensor& text, const at::Device& device) {
  const auto& inf = config.inference;
  const auto dtype = model::dtype_named(inf.dtype);
  const auto meta_model = train::model_from_config(config, at::TensorOptions().dtype(dtype).device(at::kMeta));
  inference::ARGenerator(meta_model, inf.generator).check_request(text, args.latent_frames);
  CheckedRequest checked;
  checked.hybrid_layers = static_cast<int64_t>(model::hybrid_layers(*meta_model).size());
  const inference::GenerationShape shape{
      text.size(0) * inf.generator.passes_per_video(),
      args.latent_frames,
      inf.generator.latent_height,
      inf.generator.latent_width,
      inf.generator.frames_per_block};
  checked.estimate = inference::estimate_generation_memory(
      config.model,
      checked.hybrid_layers,
      parameter_count(*meta_model),
      shape,
      inf.generator.kv,
      c10::elementSize(dtype));
  std::printf("memory estimate: %s\n", inference::describe(checked.estimate).c_str());
  const auto free_bytes = inference::free_device_bytes(device);
  TORCH_CHECK(
      !free_bytes || checked.estimate.total_bytes() <= *free_bytes,
      "the estimate (",
      inference::describe(checked.estimate),
      ") exceeds the ",
      *free_bytes / 1e9,
      " GB free on ",
      inf.device,
      "; use fewer frames, a KV window (inference.kv_window_frames) or more hybrid layers");
  return checked;
}

// The blocks of a run as they finish, each reported on stdout, with the memory after each.
struct GeneratedBlocks {
  std::vector<at::Tensor> latents; // float32, on the CPU
  std::vector<double> ms;
  std::vector<int64_t> cache_bytes, memory_bytes;
  double total_ms = 0;
};

// The prompts that take over at a latent frame (--switch-prompts, --switch-at).
struct PromptSwitch {
  int64_t at = 0;
  at::Tensor text; // undefined: no switch
};

// Checks a prompt switch against the request before any work: the same videos, text the model takes, a block
// boundary inside the video.
PromptSwitch checked_switch(const GenerateArgs& args, const config::Config& config, const at::Tensor& text) {
  if (args.switch_prompts_path.empty()) {
    return {};
  }
  const auto fpb = config.inference.generator.frames_per_block;
  TORCH_CHECK(
      args.switch_at > 0 && args.switch_at < args.latent_frames && args.switch_at % fpb == 0,
      "--switch-at (",
      args.switch_at,
      ") must be a block boundary inside the video: a multiple of inference.frames_per_block = ",
      fpb,
      " between 0 and --latent-frames (",
      args.latent_frames,
      "), both excluded");
  PromptSwitch prompt_switch{args.switch_at, open_prompts(args.switch_prompts_path).tensor("text_embeddings")};
  try {
    inference::check_text_embeddings(config.model, prompt_switch.text);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "--switch-prompts ", args.switch_prompts_path, ": ", e.what_without_backtrace());
  }
  TORCH_CHECK(
      prompt_switch.text.size(0) == text.size(0),
      "--switch-prompts ",
      args.switch_prompts_path,
      " holds ",
      prompt_switch.text.size(0),
      " prompts, one for each of the ",
      text.size(0),
      " videos of --prompts is needed");
  return prompt_switch;
}

GeneratedBlocks generate_blocks(
    inference::GenerationRun& run, const PromptSwitch& prompt_switch, const at::Device& device) {
  GeneratedBlocks out;
  while (!run.done()) {
    if (prompt_switch.text.defined() && run.caches().front().frames_committed() == prompt_switch.at) {
      run.set_prompt(prompt_switch.text);
      std::printf("prompts switched at latent frame %lld\n", static_cast<long long>(prompt_switch.at));
    }
    auto block = run.next();
    out.latents.push_back(block.latents.to(at::kCPU, at::kFloat));
    out.ms.push_back(block.ms);
    out.cache_bytes.push_back(run.cache_bytes_in_use());
    out.memory_bytes.push_back(inference::used_memory_bytes(device).value_or(-1));
    out.total_ms += block.ms;
    std::printf(
        "block %lld/%lld: %.1f ms\n",
        static_cast<long long>(block.index + 1),
        static_cast<long long>(block.num_blocks),
        block.ms);
    std::fflush(stdout);
  }
  return out;
}

// metrics.json: the blocks' times and memory, the estimate, and the configuration that ran.
nlohmann::json generation_metrics(
    const GenerateArgs& args,
    const config::Config& config,
    const CheckedRequest& checked,
    const GeneratedBlocks& blocks,
    const inference::GenerationRun& run,
    const at::Device& device,
    int64_t batch) {
  const auto& inf = config.inference;
  const auto peak = inference::peak_device_bytes(device);
  nlohmann::json metrics;
  metrics["block_ms"] = blocks.ms;
  // after each block: the caches' bytes holding committed frames, and the memory in use (on the CPU the
  // process's resident set)
  metrics["block_cache_bytes"] = blocks.cache_bytes;
  metrics["block_memory_bytes"] = blocks.memory_bytes;
  metrics["memory_kind"] = device.is_cpu() ? "resident set of the process" : "allocated on the device";
  metrics["total_ms"] = blocks.total_ms;
  metrics["peak_device_bytes"] = peak ? nlohmann::json(*peak) : nlohmann::json(nullptr);
  metrics["estimate"] = {
      {"weight_bytes", checked.estimate.weight_bytes},
      {"kv_cache_bytes", checked.estimate.kv_cache_bytes},
      {"state_bytes", checked.estimate.state_bytes}};
  metrics["cache_bytes"] = run.cache_bytes();
  metrics["cuda_graphs"] = run.replays_cuda_graphs();
  // the inference section's sampler and block layout, as the config file names them
  metrics["config"] = io::fields_to_json(inf.generator);
  metrics["config"].update(
      {{"path", args.config_path},
       {"overrides", args.overrides},
       {"hash", config::config_hash(config)},
       {"hybrid_layers", checked.hybrid_layers},
       {"num_layers", config.model.num_layers},
       {"dtype", inf.dtype},
       {"device", inf.device},
       {"random_weights", inf.random_weights()}});
  metrics["latent_frames"] = args.latent_frames;
  metrics["batch"] = batch;
  metrics["seed"] = args.seed;
  metrics["switch_at"] = args.switch_prompts_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.switch_at);
  return metrics;
}

int run_generate(const GenerateArgs& args) {
  const auto config = config::load_config(args.config_path, args.overrides);
  const auto& inf = config.inference;
  const auto metrics_path = args.out_dir + "/metrics.json";
  prepare_outputs(args, config, metrics_path);
  const at::Device device(inf.device);
  check_inference_device(inf.device, args.config_path);
  for (const auto* path : {&inf.checkpoint, &inf.hybrid_checkpoint}) {
    TORCH_CHECK(path->empty() || std::filesystem::exists(*path), "checkpoint '", *path, "' does not exist");
  }
  const auto prompts = open_prompts(args.prompts_path);
  const auto text = prompts.tensor("text_embeddings");
  const auto prompt_switch = checked_switch(args, config, text);
  const auto checked = check_request(config, args, text, device);

  std::printf(
      "model: %lld layers (%lld hybrid), %s on %s, %s\n",
      static_cast<long long>(config.model.num_layers),
      static_cast<long long>(checked.hybrid_layers),
      inf.dtype.c_str(),
      inf.device.c_str(),
      inf.random_weights() ? "random weights (no inference.checkpoint)" : "weights from the checkpoint");
  inference::reset_peak_device_bytes(device);
  const auto dit = train::model_from_config(
      config,
      at::TensorOptions().dtype(model::dtype_named(inf.dtype)).device(device),
      args.ema ? train::TrainedWeights::kEma : train::TrainedWeights::kRaw);
  const inference::ARGenerator generator(dit, inf.generator);
  auto run = generator.start(text, args.latent_frames, args.seed, /*timed=*/true);
  std::printf(
      "denoising passes: %s\n",
      run.replays_cuda_graphs() ? "replayed from a CUDA graph from block 2 on (inference.cuda_graphs)" : "run eagerly");
  const auto blocks = generate_blocks(run, prompt_switch, device);
  const auto metrics = generation_metrics(args, config, checked, blocks, run, device, text.size(0));

  const auto video = at::cat(blocks.latents, 2);
  const auto prompt_list = prompts.metadata().count("prompts") ? prompts.metadata().at("prompts") : std::string("[]");
  std::map<std::string, std::string> metadata{
      {"prompts", prompt_list}, {"config_hash", config::config_hash(config)}, {"seed", std::to_string(args.seed)}};
  if (prompt_switch.text.defined()) {
    const io::SafetensorsFile switch_file(args.switch_prompts_path);
    const auto& m = switch_file.metadata();
    metadata["switch_prompts"] = m.count("prompts") ? m.at("prompts") : std::string("[]");
    metadata["switch_at"] = std::to_string(args.switch_at);
  }
  const auto latents_path = write_latents(args.out_dir, video, metadata);
  if (config.model.pixel_space()) { // RGB in [-1, 1], nothing to decode
    for (const auto& path : write_video_sheets(args.out_dir, video)) {
      std::printf("video: %s\n", path.c_str());
    }
  }
  io::write_file_atomically(metrics_path, metrics.dump(2) + "\n");
  std::printf(
      "%lld blocks in %.1f ms; wrote %s and %s\n",
      static_cast<long long>(run.num_blocks()),
      blocks.total_ms,
      latents_path.c_str(),
      metrics_path.c_str());
  return 0;
}

} // namespace

Command add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "generate", "Generate latents block by block from prompts' text embeddings (scripts/encode_prompts.py)");
  auto args = std::make_shared<GenerateArgs>();
  add_config_options(
      cmd, args->config_path, args->overrides, "YAML config: model, optional hybrid and inference sections");
  cmd->add_option("--prompts", args->prompts_path, "safetensors file with text_embeddings [N, L, text_dim]")
      ->required();
  cmd->add_option(
         "--latent-frames",
         args->latent_frames,
         "Latent frames to generate, a whole number of blocks (pixel frames = 4 x latent frames - 3: 21 -> 81)")
      ->required()
      ->check(kFramesRange);
  cmd->add_option(
         "--out",
         args->out_dir,
         "Output folder for latents.safetensors and metrics.json (made, and checked, before any work)")
      ->required();
  cmd->add_option("--seed", args->seed, "Seed of the noise (default 0)");
  auto* switch_prompts = cmd->add_option(
      "--switch-prompts",
      args->switch_prompts_path,
      "safetensors file with text_embeddings, one prompt per video of --prompts, that take over at --switch-at");
  cmd->add_option(
         "--switch-at",
         args->switch_at,
         "The latent frame where --switch-prompts take over: a block boundary inside the video")
      ->needs(switch_prompts);
  switch_prompts->needs(cmd->get_option("--switch-at"));
  cmd->add_flag(
      "--ema",
      args->ema,
      "With a training checkpoint as inference.hybrid_checkpoint: its EMA parameters rather than the trained ones");
  return [args] { return run_generate(*args); };
}

} // namespace arl2::cli
