// Activation checkpointing of one DiT block: the forward keeps only the block's inputs, and the backward
// runs the block again with gradients to get its activations (PyTorch's torch.utils.checkpoint, which
// LibTorch's C++ API lacks). Memory for the student's activations drops from every block's to one
// block's at a time, for one more forward per block. Nothing random runs inside a block, so the
// recomputation needs no saved RNG state; autocast's state is carried over.
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "model/attention_context.h"
#include "model/wan_block.h"

namespace arl2::model {

// block->forward(x, e0, context, ctx) with its activations recomputed in the backward. Gradients reach x,
// e0, context (where they require them) and the block's trainable parameters as without checkpointing.
// Not for cached attention: a cache would be written twice.
at::Tensor checkpointed_block_forward(
    const std::shared_ptr<WanBlock>& block,
    const at::Tensor& x,
    const at::Tensor& e0,
    const at::Tensor& context,
    const AttentionContext& ctx);

} // namespace arl2::model
