// Autoregressive generation block by block (docs/design.md, "Generation"; Self Forcing's causal inference):
// each block of frames_per_block latent frames is denoised from fresh noise by the few-step sampler,
// whose passes read the layers' caches and leave them untouched; then one clean pass over the denoised
// block, at the context timestep, commits it: softmax layers append its keys and values, hybrid layers
// advance their state. Noisy intermediates never enter memory.
//
//   ARGenerator generator(dit, options);
//   auto run = generator.start(text, /*latent_frames=*/21, /*seed=*/0);  // checks, allocates caches
//   while (!run.done()) { auto block = run.next(); ... }                 // each block when finished
//
// Latents are the model's layout, [B, C, F, H, W]; text embeddings [B, L <= text_len, text_dim], one
// prompt per batch item (the model zero-pads them to text_len as Wan does).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "inference/flow_matching.h"
#include "inference/generator_options.h"
#include "inference/pass_graph.h"
#include "model/layer_cache.h"
#include "model/wan_dit.h"

namespace arl2::inference {

struct FinishedBlock {
  int64_t index = 0;       // 0-based
  int64_t num_blocks = 0;  // of the run; -1 in a session (session.h), which has no end
  int64_t first_frame = 0; // latent frame index of the block's first frame
  at::Tensor latents;      // [B, C, frames_per_block, H, W]
  double ms = -1.0;        // wall clock, device work included; negative when the run is not timed
};

// One video being generated; made by ARGenerator::start.
class GenerationRun {
 public:
  bool done() const {
    return num_blocks_ >= 0 && blocks_done_ == num_blocks_;
  }
  // -1 when the run has no end (a session's, session.h).
  int64_t num_blocks() const {
    return num_blocks_;
  }
  int64_t blocks_done() const {
    return blocks_done_;
  }

  // Generates and commits the next block. When timed, waits for the device at the block's end so
  // that `ms` holds the block's whole work.
  FinishedBlock next();

  // From the next block on, the prompt `text` [B, L, D] (B as the run's videos): each layer drops the old prompt's
  // cross-attention keys and values and computes the new one's in the next pass; the self-attention caches are
  // kept, as the old prompt made them.
  void set_prompt(const at::Tensor& text);

  // The two halves of next(), apart so that tests can look at the caches in between.
  // The denoising passes of the next block, which read the caches only: its x0 [B, C, Fb, H, W].
  at::Tensor denoise_next();
  // The clean pass over `x0` at the context timestep, which commits the block to the caches.
  void commit(const at::Tensor& x0);

  const std::vector<model::LayerCache>& caches() const {
    return caches_;
  }
  // Whether blocks after the first replay their denoising passes from a CUDA graph
  // (GeneratorOptions::cuda_graphs, where the device and the model allow it; a block runs eagerly while
  // hybrid layers record diagnostics).
  bool replays_cuda_graphs() const {
    return graph_ != nullptr;
  }
  // Bytes held by every layer's cache, and of those the bytes that hold committed frames (a KV cache is
  // allocated for the whole video up front).
  int64_t cache_bytes() const;
  int64_t cache_bytes_in_use() const;

 private:
  friend class ARGenerator;
  friend class Session; // a run without end, whose prompt, caches and noise a session switches, forks and saves
  GenerationRun(
      std::shared_ptr<const model::WanDiT> model,
      FlowMatchSchedule schedule,
      const GeneratorOptions& options,
      at::Tensor text,
      std::vector<model::LayerCache> caches,
      int64_t num_blocks,
      at::Generator noise,
      bool timed);
  at::Tensor timesteps(double t) const;     // [B, Fb], every frame at t
  std::vector<int64_t> block_shape() const; // [B, C, Fb, H, W]
  // `x` [B, ...] as the model's batch: twice over under guidance (the prompt's half, then the empty prompt's).
  at::Tensor for_every_pass(const at::Tensor& x) const;
  // One denoising pass of the next block: reads the caches only.
  at::Tensor denoising_pass(const at::Tensor& x_t, const at::Tensor& t);

  std::shared_ptr<const model::WanDiT> model_;
  FlowMatchSchedule schedule_;
  GeneratorOptions options_;
  at::Tensor text_; // [B, ...]; under guidance [2B, ...], the prompts then B empty ones
  std::vector<model::LayerCache> caches_;
  int64_t num_blocks_;
  int64_t blocks_done_ = 0;
  at::Generator noise_;
  bool timed_;
  // Set when the denoising passes replay a CUDA graph (GeneratorOptions::cuda_graphs), captured for each
  // block by the commit of the one before; block 0 runs them eagerly, which warms up what a capture must
  // find ready (the kernels' settings, the attention's plans, the prompt's keys and values).
  std::unique_ptr<PassGraph> graph_;
};

// A generator of `device`'s kind that draws the same numbers for the same seed on every run: a run's noise
// (ARGenerator::start).
at::Generator seeded_generator(const c10::Device& device, uint64_t seed);

// Throws a clear message unless `text` holds text embeddings [N > 0, L <= text_len, text_dim] of floating point for
// a model of `config` (the prompt check of ARGenerator::check_request).
void check_text_embeddings(const model::ModelConfig& config, const at::Tensor& text);

class ARGenerator {
 public:
  // Throws naming the option (inference.frames_per_block, ...) when `options` do not fit `model`.
  ARGenerator(std::shared_ptr<const model::WanDiT> model, GeneratorOptions options);

  const GeneratorOptions& options() const {
    return options_;
  }
  const std::shared_ptr<const model::WanDiT>& model() const {
    return model_;
  }

  // Throws a clear message when `text` does not fit the model or latent_frames is not a whole number of
  // blocks; start() checks the same, this is for callers that want to check before building the model's
  // weights (on the meta device, say).
  void check_request(const at::Tensor& text, int64_t latent_frames) const;

  // Checks the request and allocates the caches on the model's device; runs no model pass, so a bad
  // request fails before any work. latent_frames must be a whole number of blocks. Noise comes from a
  // generator of the model's device seeded with `seed`. On the CPU it makes the process flush denormal floats
  // (model/cpu_denormals.h).
  GenerationRun start(const at::Tensor& text, int64_t latent_frames, uint64_t seed, bool timed = false) const;

  // The whole video [B, C, latent_frames, H, W]; `on_block`, when given, receives each block as soon as
  // it is finished (the run is then timed).
  at::Tensor generate(
      const at::Tensor& text,
      int64_t latent_frames,
      uint64_t seed,
      const std::function<void(const FinishedBlock&)>& on_block = {}) const;

 private:
  friend class Session;
  // start() after its request check, for `num_blocks` blocks (-1: without end) with softmax layers' caches as
  // `spec` says.
  GenerationRun open_run(
      const at::Tensor& text, int64_t num_blocks, const model::KVCacheSpec& spec, uint64_t seed, bool timed) const;

  std::shared_ptr<const model::WanDiT> model_;
  GeneratorOptions options_;
  FlowMatchSchedule schedule_;
};

} // namespace arl2::inference
