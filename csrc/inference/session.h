// A streaming generation session (docs/design.md, "Sessions"): a video without a fixed end, made block by block
// as GenerationRun makes one of fixed length, whose prompt can change at any block boundary and whose whole state
// (the layers' caches, the frame position, the noise generator, the prompt) can be forked, saved to one safetensors
// file and loaded again. A continuation after load equals one that never stopped, bit for bit.
//
//   ARGenerator generator(dit, options);          // softmax layers need options.kv.window_frames
//   Session session(generator, text, /*seed=*/0); // text [B, L, D]
//   auto block = session.next();                  // the first block, latents [B, C, Fb, H, W]
//   session.set_prompt(other_text);               // from the next block on
//   session.save("state.safetensors");
//   auto again = Session::load(generator, "state.safetensors");
//
// Memory is bounded for every model: a hybrid layer's recurrent state has a fixed size, and softmax layers keep a
// rolling window with sink frames (inference.kv_window_frames, kv_sink_frames); a session on a model with softmax
// layers and no window is refused.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "inference/generator.h"

namespace arl2::inference {

class Session {
 public:
  // Checks the prompt and the window and allocates the caches; runs no model pass. Noise comes from a generator of
  // the model's device seeded with `seed`. When timed, each block waits for the device at its start and end so that
  // FinishedBlock::ms holds its whole work.
  Session(const ARGenerator& generator, const at::Tensor& text, uint64_t seed, bool timed = false);

  // Generates and commits the next block (FinishedBlock::num_blocks is -1: a session has no end).
  FinishedBlock next();

  // The prompt [B, L, D] (B as the session's) of the blocks from the next one on. The hybrid layers' recurrent
  // states are kept; the softmax layers keep the committed frames' keys and values as the old prompt made them, or
  // with `recache`, make them again under the new prompt: the clean passes over the frames their windows hold run
  // once more (LongLive's re-cache), with the hybrid layers reading their state as it stands.
  void set_prompt(const at::Tensor& text, bool recache = false);

  // An independent copy: both continue from here, each with its own caches and noise generator (a fork draws the
  // same noise as its original would have).
  Session fork() const;

  // The whole state as one safetensors file, written atomically: the layers' caches, the noise generator's state,
  // the prompt, the frames the softmax windows hold (for a later re-cache), the frame position, and what the state
  // belongs to (the model's weights fingerprint, its config, dtype and device type, the generation options).
  void save(const std::string& path) const;
  // A session saved by save(), continuing on `generator`, whose model, dtype, device type and generation options
  // must be the saved ones (inference.cuda_graphs aside); another is refused naming what differs, before any work.
  static Session load(const ARGenerator& generator, const std::string& path, bool timed = false);

  int64_t blocks_done() const {
    return run_.blocks_done();
  }
  // The latent frames made so far: the index of the next block's first frame.
  int64_t frames_done() const;
  // [B, L, D] on the model's device.
  const at::Tensor& prompt() const {
    return prompt_;
  }
  // Bytes held by every layer's cache; constant over the session.
  int64_t cache_bytes() const {
    return run_.cache_bytes();
  }
  const GenerationRun& run() const {
    return run_;
  }

 private:
  Session(GenerationRun run, at::Tensor prompt, at::Tensor held_latents);
  // The clean passes over the held latents under the run's (new) text, into fresh softmax caches.
  void recache();

  GenerationRun run_;
  at::Tensor prompt_;
  // The latents [B, C, n, H, W] of the frames the softmax layers' windows hold, in the windows' order (sink frames,
  // then the most recent ones), which a re-cache runs again; undefined for a model without softmax layers.
  at::Tensor held_latents_;
};

} // namespace arl2::inference
