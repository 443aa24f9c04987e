// CrossAttention (see cross_attention.h).
#include "model/cross_attention.h"

#include <c10/core/GradMode.h>

namespace arl2::model {

CrossAttention::CrossAttention(int64_t dim, int64_t num_heads, double eps, const at::TensorOptions& options)
    : parts(*this, dim, eps, options), num_heads_(num_heads) {}

at::Tensor CrossAttention::forward(const at::Tensor& x, const at::Tensor& context, LayerCache* cache) const {
  const int64_t B = x.size(0), H = num_heads_, D = x.size(2) / H;
  const auto q = parts.norm_q->forward(parts.q->forward(x)).view({B, -1, H, D});
  // Under autograd each call keeps its own graph: a cached pair would tie later passes to the first one's.
  if (c10::GradMode::is_enabled()) {
    cache = nullptr;
  }
  if (cache == nullptr || !cache->text_kv()) {
    const auto k = parts.norm_k->forward(parts.k->forward(context)).view({B, -1, H, D});
    const auto v = parts.v->forward(context).view({B, -1, H, D});
    if (cache == nullptr) {
      return parts.o->forward(attend(q, k, v).flatten(2));
    }
    cache->set_text_kv(k, v);
  }
  const auto& [k, v] = *cache->text_kv();
  return parts.o->forward(attend(q, k, v).flatten(2));
}

} // namespace arl2::model
