// Turning a Wan DiT into an ARL2 hybrid: which layers (a list, or a ratio and a policy), the
// conversion itself (the hybrid layers take over the softmax layers' tensors; every base parameter
// is frozen, only the new ones train), a student that shares every tensor of a teacher model, and
// the parameter groups an optimizer and `arl2 info` need.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/fields.h"
#include "model/hybrid_attention.h"
#include "model/lora.h"
#include "model/wan_dit.h"

namespace arl2::model {

enum class LayerPolicy {
  // Layers 0..n-1, as the authors' 75% model (layers 0-21 of 30).
  kFirst,
};

// The policies by name ("first").
io::Choice<LayerPolicy> layer_policies();
// The policy `name` names; throws naming the known ones.
LayerPolicy layer_policy(std::string_view name);

struct HybridOptions {
  // Either explicit layer indices or a ratio in (0, 1] with a policy: n = ratio x num_layers layers,
  // rounded half to even as Python's round() (0.75 x 30 = 22.5 -> 22, the authors' 75% model).
  std::vector<int64_t> layers;
  std::optional<double> ratio;
  LayerPolicy policy = LayerPolicy::kFirst;
  // Stage 2: LoRA on the memory path's q, k, v and on both FFN linears of every hybrid layer.
  bool lora = false;
  LoraOptions lora_options;
  // With lora: the FFN adapters on every layer's FFN, softmax layers' too (the authors' --ffn_lora_all_layers).
  bool ffn_lora_all_layers = false;
};

// The hybrid section's keys (io/fields.h).
template <typename Self, typename Visitor, io::TableOf<Self, HybridOptions> = 0>
void visit_fields(Self& h, Visitor&& field) {
  field("layers", h.layers, io::IntRange{}, io::unset_when(h.layers.empty()));
  field("ratio", h.ratio, io::NumberRange{});
  field("policy", h.policy, layer_policies());
  field("lora", h.lora, io::AnyValue{});
  field("lora_rank", h.lora_options.rank, io::IntRange{1, 1 << 12});
  field("lora_alpha", h.lora_options.alpha, io::NumberRange{});
  field("ffn_lora_all_layers", h.ffn_lora_all_layers, io::AnyValue{}, io::dumped_when(h.ffn_lora_all_layers));
}

// The layers `options` selects in a model of `num_layers`, ascending. Throws naming the field
// (hybrid.layers, hybrid.ratio) when they are out of range, repeated, both given or neither.
std::vector<int64_t> hybrid_layer_indices(const HybridOptions& options, int64_t num_layers);

// Converts the selected layers of `model` in place and returns their indices. Freezes every base
// parameter (requires_grad false); the hybrid layers' new parameters (and LoRA, when asked) are the
// only trainable ones. Throws, converting nothing, if a selected layer is already hybrid.
std::vector<int64_t> convert_to_hybrid(WanDiT& model, const HybridOptions& options);

// Stage 2 on a converted model: LoRA on the memory path's q/k/v and both FFN linears of every hybrid
// layer, and with `ffn_lora_all_layers` on every other layer's FFN linears too, wherever there is none yet.
void add_hybrid_lora(WanDiT& model, const LoraOptions& lora, bool ffn_lora_all_layers = false);

// Folds the FFN adapters of every layer into their linears' weights and removes them: the model as
// `arl2 export` writes it and as generation runs it, with the memory path's adapters kept (they feed the
// memory path only, so no shared weight can hold them).
void merge_ffn_lora(WanDiT& model);

// A hybrid of `teacher` that copies nothing: a model of the same config whose every base parameter is
// the teacher's tensor (same storage), converted as `options` says. The teacher stays as it was, so
// both can run side by side (stage 2); the student's frozen tensors are the teacher's.
std::shared_ptr<WanDiT> make_hybrid_student(const WanDiT& teacher, const HybridOptions& options);

// The hybrid layers of `model` with their block index.
std::vector<std::pair<int64_t, std::shared_ptr<HybridAttention>>> hybrid_layers(const WanDiT& model);

struct ParameterGroup {
  std::string name;
  std::vector<std::pair<std::string, at::Tensor>> parameters; // by state-dict name
  int64_t numel() const;
  int64_t trainable_numel() const;
};

// Every parameter of `model` in one of three groups, in this order: "base" (Wan's parameters),
// "hybrid" (the hybrid layers' memory path, LoRA excepted) and "lora" (every LoRA adapter).
std::vector<ParameterGroup> group_parameters(const WanDiT& model);

} // namespace arl2::model
