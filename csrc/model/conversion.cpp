// Layer selection, conversion, students and parameter groups (see conversion.h).
#include "model/conversion.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <c10/core/TensorImpl.h>
#include <c10/util/Exception.h>

#include "model/layers.h"
#include "model/softmax_attention.h"

namespace arl2::model {
namespace {} // namespace

io::Choice<LayerPolicy> layer_policies() {
  return {{{"first", LayerPolicy::kFirst}}};
}

LayerPolicy layer_policy(std::string_view name) {
  const auto policies = layer_policies();
  const auto policy = policies.value_of(name);
  TORCH_CHECK(policy, "hybrid.policy '", name, "' is unknown; known policies: ", policies.known());
  return *policy;
}

std::vector<int64_t> hybrid_layer_indices(const HybridOptions& options, int64_t num_layers) {
  TORCH_CHECK(
      options.layers.empty() != !options.ratio.has_value(),
      "hybrid: give either hybrid.layers or hybrid.ratio (with hybrid.policy), not ",
      options.layers.empty() ? "neither" : "both");
  if (options.ratio) {
    const double ratio = *options.ratio;
    TORCH_CHECK(ratio > 0 && ratio <= 1, "hybrid.ratio (", ratio, ") must be in (0, 1]");
    // std::nearbyint rounds half to even in the default rounding mode.
    const auto n = static_cast<int64_t>(std::nearbyint(ratio * static_cast<double>(num_layers)));
    TORCH_CHECK(n > 0, "hybrid.ratio (", ratio, ") selects no layer of ", num_layers);
    std::vector<int64_t> first(n);
    for (int64_t i = 0; i < n; ++i) {
      first[i] = i;
    }
    return first;
  }
  auto layers = options.layers;
  std::sort(layers.begin(), layers.end());
  for (size_t i = 0; i < layers.size(); ++i) {
    TORCH_CHECK(
        layers[i] >= 0 && layers[i] < num_layers,
        "hybrid.layers: layer ",
        layers[i],
        " is out of range for a model of ",
        num_layers,
        " layers");
    TORCH_CHECK(i == 0 || layers[i] != layers[i - 1], "hybrid.layers: layer ", layers[i], " is listed twice");
  }
  return layers;
}

std::vector<int64_t> convert_to_hybrid(WanDiT& model, const HybridOptions& options) {
  const auto layers = hybrid_layer_indices(options, model.config().num_layers);
  std::vector<std::shared_ptr<SoftmaxAttention>> teachers;
  for (const int64_t i : layers) {
    auto softmax = std::dynamic_pointer_cast<SoftmaxAttention>(model.blocks()[i]->self_attention());
    TORCH_CHECK(softmax != nullptr, "convert_to_hybrid: blocks.", i, ".self_attn is already hybrid");
    teachers.push_back(std::move(softmax));
  }
  for (auto& p : group_parameters(model).front().parameters) {
    p.second.set_requires_grad(false);
  }
  for (size_t n = 0; n < layers.size(); ++n) {
    model.blocks()[layers[n]]->replace_self_attention(std::make_shared<HybridAttention>(*teachers[n]));
  }
  if (options.lora) {
    add_hybrid_lora(model, options.lora_options, options.ffn_lora_all_layers);
  }
  return layers;
}

void add_hybrid_lora(WanDiT& model, const LoraOptions& lora, bool ffn_lora_all_layers) {
  for (const auto& block : model.blocks()) {
    const auto hybrid = std::dynamic_pointer_cast<HybridAttention>(block->self_attention());
    if (hybrid && !hybrid->has_lora()) {
      hybrid->add_lora(lora);
    }
    const auto& ffn = block->ffn();
    if ((hybrid || ffn_lora_all_layers) && !ffn->fc_in->lora()) {
      ffn->fc_in->add_lora(lora);
      ffn->fc_out->add_lora(lora);
    }
  }
}

void merge_ffn_lora(WanDiT& model) {
  for (const auto& block : model.blocks()) {
    block->ffn()->fc_in->merge_lora();
    block->ffn()->fc_out->merge_lora();
  }
}

std::shared_ptr<WanDiT> make_hybrid_student(const WanDiT& teacher, const HybridOptions& options) {
  const auto teacher_params = teacher.named_parameters();
  const auto& any = teacher_params.front().value();
  // Built on the meta device (no memory), then every parameter is pointed at the teacher's storage.
  auto student = std::make_shared<WanDiT>(teacher.config(), at::TensorOptions().dtype(any.dtype()).device(at::kMeta));
  for (auto& p : student->named_parameters()) {
    const auto* source = teacher_params.find(p.key());
    TORCH_CHECK(
        source != nullptr,
        "make_hybrid_student: the teacher has no parameter '",
        p.key(),
        "' (convert a plain Wan model)");
    // What Tensor::set_data does, without its check that both sides are of one backend family:
    // meta and CPU/CUDA tensors are both plain dense TensorImpls, so the meta placeholder can take
    // over the teacher's storage, dtype and device while keeping its own autograd state.
    p.value().unsafeGetTensorImpl()->shallow_copy_from(source->getIntrusivePtr());
  }
  TORCH_CHECK(
      student->named_parameters().size() == teacher_params.size(),
      "make_hybrid_student: the teacher has parameters a plain Wan model lacks (convert a plain Wan model)");
  convert_to_hybrid(*student, options);
  return student;
}

std::vector<std::pair<int64_t, std::shared_ptr<HybridAttention>>> hybrid_layers(const WanDiT& model) {
  std::vector<std::pair<int64_t, std::shared_ptr<HybridAttention>>> layers;
  const auto& blocks = model.blocks();
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (auto hybrid = std::dynamic_pointer_cast<HybridAttention>(blocks[i]->self_attention())) {
      layers.emplace_back(static_cast<int64_t>(i), std::move(hybrid));
    }
  }
  return layers;
}

int64_t ParameterGroup::numel() const {
  int64_t n = 0;
  for (const auto& p : parameters) {
    n += p.second.numel();
  }
  return n;
}

int64_t ParameterGroup::trainable_numel() const {
  int64_t n = 0;
  for (const auto& p : parameters) {
    n += p.second.requires_grad() ? p.second.numel() : 0;
  }
  return n;
}

std::vector<ParameterGroup> group_parameters(const WanDiT& model) {
  // Each layer says which of its parameters are what: the hybrid layers their memory path and adapters, the
  // linear layers their adapters.
  std::set<const c10::TensorImpl*> memory, adapters;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (const auto hybrid = std::dynamic_pointer_cast<HybridAttention>(module)) {
      for (const auto& p : hybrid->memory_parameters()) {
        memory.insert(p.unsafeGetTensorImpl());
      }
      for (const auto& p : hybrid->adapter_parameters()) {
        adapters.insert(p.unsafeGetTensorImpl());
      }
    } else if (const auto linear = std::dynamic_pointer_cast<Linear>(module); linear && linear->lora()) {
      adapters.insert(linear->lora()->A.unsafeGetTensorImpl());
      adapters.insert(linear->lora()->B.unsafeGetTensorImpl());
    }
  }
  std::vector<ParameterGroup> groups = {{"base", {}}, {"hybrid", {}}, {"lora", {}}};
  for (const auto& p : model.named_parameters()) {
    const auto* impl = p.value().unsafeGetTensorImpl();
    const size_t group = adapters.count(impl) ? 2 : memory.count(impl) ? 1 : 0;
    groups[group].parameters.emplace_back(p.key(), p.value());
  }
  return groups;
}

} // namespace arl2::model
