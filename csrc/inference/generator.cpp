// ARGenerator and GenerationRun (see generator.h).
#include "inference/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "inference/device_memory.h"
#include "inference/guidance.h"
#include "model/conversion.h"
#include "model/cpu_denormals.h"
#include "model/hybrid_attention.h"

namespace arl2::inference {
namespace {

bool records_diagnostics(const model::WanDiT& model) {
  const auto layers = model::hybrid_layers(model);
  return std::any_of(
      layers.begin(), layers.end(), [](const auto& layer) { return layer.second->records_diagnostics(); });
}

void check_options(const model::ModelConfig& c, const GeneratorOptions& o) {
  TORCH_CHECK(o.frames_per_block > 0, "inference.frames_per_block must be positive, got ", o.frames_per_block);
  TORCH_CHECK(
      o.latent_height > 0 && o.latent_height % c.patch[1] == 0,
      "inference.latent_height (",
      o.latent_height,
      ") must be a positive multiple of the patch height ",
      c.patch[1]);
  TORCH_CHECK(
      o.latent_width > 0 && o.latent_width % c.patch[2] == 0,
      "inference.latent_width (",
      o.latent_width,
      ") must be a positive multiple of the patch width ",
      c.patch[2]);
  TORCH_CHECK(
      o.context_timestep >= 0 && o.context_timestep <= o.schedule.num_train_timesteps,
      "inference.context_timestep must be in [0, ",
      o.schedule.num_train_timesteps,
      "], got ",
      o.context_timestep);
  TORCH_CHECK(
      std::isfinite(o.guidance_scale) && o.guidance_scale >= 0,
      "inference.guidance_scale must be a finite number >= 0, got ",
      o.guidance_scale);
  TORCH_CHECK(
      o.kv.window_frames >= 0 && o.kv.sink_frames >= 0,
      "inference.kv_window_frames and inference.kv_sink_frames must not be negative");
  TORCH_CHECK(
      o.kv.window_frames == 0 || o.kv.sink_frames + o.frames_per_block <= o.kv.window_frames,
      "inference.kv_window_frames (",
      o.kv.window_frames,
      ") must hold the ",
      o.kv.sink_frames,
      " sink frames and one block of ",
      o.frames_per_block);
  TORCH_CHECK(
      o.kv.window_frames > 0 || o.kv.sink_frames == 0,
      "inference.kv_sink_frames needs a rolling window: set inference.kv_window_frames");
}

} // namespace

void check_text_embeddings(const model::ModelConfig& c, const at::Tensor& text) {
  TORCH_CHECK(text.defined(), "text embeddings: none given");
  TORCH_CHECK(
      text.dim() == 3 && text.size(0) > 0 && text.size(1) <= c.text_len && text.size(2) == c.text_dim,
      "text embeddings must be [N > 0, L <= ",
      c.text_len,
      ", ",
      c.text_dim,
      "] for this model (model.text_len, model.text_dim), got ",
      text.sizes());
  TORCH_CHECK(
      at::isFloatingType(text.scalar_type()), "text embeddings must be floating point, got ", text.scalar_type());
}

at::Generator seeded_generator(const c10::Device& device, uint64_t seed) {
  at::Generator source = at::globalContext().defaultGenerator(device); // a handle, not a copy
  at::Generator g;
  {
    std::lock_guard<std::mutex> lock(source.mutex());
    g = source.clone();
  }
  g.set_current_seed(seed);
  return g;
}

GenerationRun::GenerationRun(
    std::shared_ptr<const model::WanDiT> model,
    FlowMatchSchedule schedule,
    const GeneratorOptions& options,
    at::Tensor text,
    std::vector<model::LayerCache> caches,
    int64_t num_blocks,
    at::Generator noise,
    bool timed)
    : model_(std::move(model)),
      schedule_(std::move(schedule)),
      options_(options),
      text_(std::move(text)),
      caches_(std::move(caches)),
      num_blocks_(num_blocks),
      noise_(std::move(noise)),
      timed_(timed) {
  const bool shapes_repeat = std::all_of(
      caches_.begin(), caches_.end(), [](const model::LayerCache& c) { return c.as_recurrent_state() != nullptr; });
  if (options_.cuda_graphs && text_.is_cuda() && shapes_repeat && PassGraph::available()) {
    graph_ = std::make_unique<PassGraph>();
  }
}

at::Tensor GenerationRun::timesteps(double t) const {
  return at::full({text_.size(0), options_.frames_per_block}, t, text_.options().dtype(at::kFloat));
}

at::Tensor GenerationRun::denoise_next() {
  TORCH_CHECK(!done(), "GenerationRun: all ", num_blocks_, " blocks are done");
  at::NoGradGuard no_grad;
  const auto weight = model_->parameters().front();
  // Recording diagnostics reads values back to the host, which a capture cannot hold.
  const bool replay = graph_ != nullptr && graph_->captured() && !records_diagnostics(*model_);
  const auto flow = [&](const at::Tensor& x_t, double t) {
    return replay ? graph_->replay(x_t, timesteps(t)) : denoising_pass(x_t, timesteps(t));
  };
  return denoise_block(schedule_, flow, block_shape(), weight.options(), noise_);
}

void GenerationRun::commit(const at::Tensor& x0) {
  TORCH_CHECK(!done(), "GenerationRun: all ", num_blocks_, " blocks are done");
  at::NoGradGuard no_grad;
  model_->commit_cached(for_every_pass(x0), timesteps(options_.context_timestep), text_, caches_);
  ++blocks_done_;
  if (graph_ == nullptr) {
    return;
  }
  // The next block's passes, captured now, while the device still runs this block: the capture's host work
  // overlaps it instead of waiting on an idle device.
  if (done() || records_diagnostics(*model_)) {
    graph_->reset();
  } else {
    const auto weight = model_->parameters().front();
    graph_->capture(
        at::zeros(block_shape(), weight.options()),
        timesteps(schedule_.step_timesteps().front()),
        [this](const at::Tensor& x_t, const at::Tensor& t) { return denoising_pass(x_t, t); });
  }
}

void GenerationRun::set_prompt(const at::Tensor& text) {
  const int64_t videos = text_.size(0) / options_.passes_per_video();
  TORCH_CHECK(
      text.defined() && text.dim() == 3 && text.size(0) == videos,
      "set_prompt: text must hold one prompt for each of the run's ",
      videos,
      " videos, [",
      videos,
      ", L, D], got ",
      text.defined() ? text.sizes() : at::IntArrayRef{});
  check_text_embeddings(model_->config(), text);
  const auto prompts = text.to(text_.device());
  text_ = options_.guided() ? with_empty_prompts(prompts) : prompts;
  if (graph_ != nullptr) {
    graph_->reset(); // a captured pass reads the old prompt's keys and values
  }
  for (auto& cache : caches_) {
    cache.forget_prompt();
  }
}

at::Tensor GenerationRun::for_every_pass(const at::Tensor& x) const {
  return options_.guided() ? at::cat({x, x}) : x;
}

at::Tensor GenerationRun::denoising_pass(const at::Tensor& x_t, const at::Tensor& t) {
  const auto flow = model_->forward_cached(for_every_pass(x_t), t, text_, caches_, /*write_cache=*/false);
  if (!options_.guided()) {
    return flow;
  }
  return guided_flow(flow, options_.guidance_scale);
}

std::vector<int64_t> GenerationRun::block_shape() const {
  const auto& c = model_->config();
  const int64_t videos = text_.size(0) / options_.passes_per_video();
  return {videos, c.in_dim, options_.frames_per_block, options_.latent_height, options_.latent_width};
}

FinishedBlock GenerationRun::next() {
  const auto device = text_.device();
  if (timed_) {
    synchronize_device(device); // start the clock on an idle device
  }
  const auto start = std::chrono::steady_clock::now();
  FinishedBlock block;
  block.index = blocks_done_;
  block.num_blocks = num_blocks_;
  block.first_frame = caches_.front().frames_committed();
  block.latents = denoise_next();
  commit(block.latents);
  if (timed_) {
    synchronize_device(device);
    block.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  return block;
}

int64_t GenerationRun::cache_bytes() const {
  int64_t bytes = 0;
  for (const auto& cache : caches_) {
    bytes += cache.bytes();
  }
  return bytes;
}

int64_t GenerationRun::cache_bytes_in_use() const {
  int64_t bytes = 0;
  for (const auto& cache : caches_) {
    bytes += cache.bytes_in_use();
  }
  return bytes;
}

ARGenerator::ARGenerator(std::shared_ptr<const model::WanDiT> model, GeneratorOptions options)
    : model_(std::move(model)), options_(std::move(options)), schedule_(options_.schedule) {
  TORCH_CHECK(model_ != nullptr, "ARGenerator: no model given");
  check_options(model_->config(), options_);
}

void ARGenerator::check_request(const at::Tensor& text, int64_t latent_frames) const {
  check_text_embeddings(model_->config(), text);
  TORCH_CHECK(
      latent_frames > 0 && latent_frames % options_.frames_per_block == 0,
      "latent frames (",
      latent_frames,
      ") must be a positive whole number of blocks of inference.frames_per_block = ",
      options_.frames_per_block,
      " frames");
}

GenerationRun ARGenerator::start(const at::Tensor& text, int64_t latent_frames, uint64_t seed, bool timed) const {
  check_request(text, latent_frames);
  const bool rolling = options_.kv.window_frames > 0;
  const model::KVCacheSpec spec{rolling ? options_.kv.window_frames : latent_frames, options_.kv.sink_frames, rolling};
  return open_run(text, latent_frames / options_.frames_per_block, spec, seed, timed);
}

GenerationRun ARGenerator::open_run(
    const at::Tensor& text, int64_t num_blocks, const model::KVCacheSpec& spec, uint64_t seed, bool timed) const {
  const auto device = model_->parameters().front().device();
  if (device.is_cpu()) {
    model::flush_cpu_denormals(); // the recurrent states decay towards zero through them
  }
  // Under guidance the model runs every video twice, under its prompt and under the empty one.
  const auto prompts = options_.guided() ? with_empty_prompts(text) : text;
  auto caches = model_->make_caches(prompts.size(0), options_.latent_height, options_.latent_width, spec);
  return GenerationRun(
      model_,
      schedule_,
      options_,
      prompts.to(device),
      std::move(caches),
      num_blocks,
      seeded_generator(device, seed),
      timed);
}

at::Tensor ARGenerator::generate(
    const at::Tensor& text,
    int64_t latent_frames,
    uint64_t seed,
    const std::function<void(const FinishedBlock&)>& on_block) const {
  auto run = start(text, latent_frames, seed, static_cast<bool>(on_block));
  std::vector<at::Tensor> blocks;
  while (!run.done()) {
    auto block = run.next();
    if (on_block) {
      on_block(block);
    }
    blocks.push_back(std::move(block.latents));
  }
  return at::cat(blocks, 2);
}

} // namespace arl2::inference
