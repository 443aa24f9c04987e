// Stage 1 (docs/design.md, "Training stages"): every hybrid layer learns to reproduce, from the teacher's own input,
// the output of the softmax self-attention it replaces. One teacher pass without gradients records each converted
// layer's input and output; then every hybrid layer runs on its recorded input, all layers at once, and the loss is
// each layer's MSE normalised by its target's mean square, averaged over layers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/attention_context.h"
#include "model/hybrid_attention.h"
#include "model/wan_dit.h"

namespace arl2::train {

struct LayerRecord {
  int64_t layer = 0;
  at::Tensor input;  // [B, L, C], the modulated input of the self-attention
  at::Tensor output; // [B, L, C], what the teacher's softmax attention made of it
  model::AttentionContext context;
};

// Runs `pass` (a forward of `teacher`, e.g. forward_teacher_forcing) without gradients, recording the
// self-attention input and output of each block in `layers`; the teacher's modules are as before when
// it returns or throws. Throws unless each of those layers ran exactly once.
std::vector<LayerRecord> record_self_attention(
    model::WanDiT& teacher, const std::vector<int64_t>& layers, const std::function<void()>& pass);

struct AlignmentLoss {
  at::Tensor total;     // mean over layers, float32 scalar with gradient
  at::Tensor per_layer; // [layers], detached, for logging (read it when logging: it synchronises)
};

// Runs each hybrid layer on its record (matched by layer index) and returns the normalised MSEs.
AlignmentLoss layer_alignment_loss(
    const std::vector<std::pair<int64_t, std::shared_ptr<model::HybridAttention>>>& hybrids,
    const std::vector<LayerRecord>& records);

} // namespace arl2::train
