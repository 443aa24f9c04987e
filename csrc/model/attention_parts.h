// What Wan's self- and cross-attention layers share: the six parameterised parts, named as in Wan's
// state dict (q, k, v, o; norm_q and norm_k, RMSNorms over all heads at once, before the head
// split), and softmax attention over [B, L, H, D] tensors.
#pragma once

#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "model/layers.h"

namespace arl2::model {

struct AttentionProjections {
  // Registers the six parts as children of `owner`.
  AttentionProjections(torch::nn::Module& owner, int64_t dim, double eps, const at::TensorOptions& options);
  // Registers `shared`'s very modules as children of `owner`: the same tensors under the same names,
  // nothing copied (a hybrid layer takes over its teacher's parts this way).
  AttentionProjections(torch::nn::Module& owner, const AttentionProjections& shared);
  std::shared_ptr<Linear> q, k, v, o;
  std::shared_ptr<RMSNorm> norm_q, norm_k;
};

// softmax(q k^T / sqrt(D)) v with no mask, q [B, Lq, H, D], k and v [B, Lk, H, D] -> [B, Lq, H, D].
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

} // namespace arl2::model
