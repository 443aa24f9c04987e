// AttentionProjections and attend (see attention_parts.h).
#include "model/attention_parts.h"

#include <ATen/ATen.h>

namespace arl2::model {

AttentionProjections::AttentionProjections(
    torch::nn::Module& owner, int64_t dim, double eps, const at::TensorOptions& options)
    : q(owner.register_module("q", std::make_shared<Linear>(dim, dim, options))),
      k(owner.register_module("k", std::make_shared<Linear>(dim, dim, options))),
      v(owner.register_module("v", std::make_shared<Linear>(dim, dim, options))),
      o(owner.register_module("o", std::make_shared<Linear>(dim, dim, options))),
      norm_q(owner.register_module("norm_q", std::make_shared<RMSNorm>(dim, eps, options))),
      norm_k(owner.register_module("norm_k", std::make_shared<RMSNorm>(dim, eps, options))) {}

AttentionProjections::AttentionProjections(torch::nn::Module& owner, const AttentionProjections& shared)
    : q(owner.register_module("q", shared.q)),
      k(owner.register_module("k", shared.k)),
      v(owner.register_module("v", shared.v)),
      o(owner.register_module("o", shared.o)),
      norm_q(owner.register_module("norm_q", shared.norm_q)),
      norm_k(owner.register_module("norm_k", shared.norm_k)) {}

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  // SDPA takes heads before tokens; its default scale is 1 / sqrt(D), as Wan's.
  return at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2);
}

} // namespace arl2::model
