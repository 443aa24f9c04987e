#include "train/layer_alignment.h"

#include <map>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

namespace arl2::train {
namespace {

// Stands in a block's self-attention slot for one pass and records what goes through it.
class RecordingAttention : public model::SelfAttentionLayer {
 public:
  explicit RecordingAttention(std::shared_ptr<model::SelfAttentionLayer> inner)
      : inner_(register_module("inner", std::move(inner))) {}

  at::Tensor forward(const at::Tensor& x, const model::AttentionContext& ctx) override {
    at::Tensor y = inner_->forward(x, ctx);
    calls_.push_back({0, x.detach(), y.detach(), ctx});
    return y;
  }
  void commit(const at::Tensor& x, const model::AttentionContext& ctx) override {
    inner_->commit(x, ctx); // no output to record
  }
  model::LayerCache make_cache(int64_t batch, int64_t tokens_per_frame, const model::KVCacheSpec& spec) const override {
    return inner_->make_cache(batch, tokens_per_frame, spec);
  }

  const std::shared_ptr<model::SelfAttentionLayer>& inner() const {
    return inner_;
  }
  std::vector<LayerRecord>& calls() {
    return calls_;
  }

 private:
  std::shared_ptr<model::SelfAttentionLayer> inner_;
  std::vector<LayerRecord> calls_;
};

// Puts the recorders in and takes them out again, also when the pass throws.
class Recorders {
 public:
  Recorders(model::WanDiT& model, const std::vector<int64_t>& layers) : model_(model) {
    for (const int64_t i : layers) {
      TORCH_CHECK(
          i >= 0 && i < static_cast<int64_t>(model.blocks().size()),
          "stage 1: layer ",
          i,
          " is not a block of a model of ",
          model.blocks().size());
      auto recorder = std::make_shared<RecordingAttention>(model.blocks()[i]->self_attention());
      model.blocks()[i]->replace_self_attention(recorder);
      recorders_.emplace_back(i, std::move(recorder));
    }
  }
  ~Recorders() {
    for (auto& [i, recorder] : recorders_) {
      model_.blocks()[i]->replace_self_attention(recorder->inner());
    }
  }
  std::vector<std::pair<int64_t, std::shared_ptr<RecordingAttention>>>& recorders() {
    return recorders_;
  }

 private:
  model::WanDiT& model_;
  std::vector<std::pair<int64_t, std::shared_ptr<RecordingAttention>>> recorders_;
};

} // namespace

std::vector<LayerRecord> record_self_attention(
    model::WanDiT& teacher, const std::vector<int64_t>& layers, const std::function<void()>& pass) {
  Recorders recorders(teacher, layers);
  {
    c10::NoGradGuard no_grad;
    pass();
  }
  std::vector<LayerRecord> records;
  for (auto& [i, recorder] : recorders.recorders()) {
    TORCH_CHECK(
        recorder->calls().size() == 1,
        "stage 1: layer ",
        i,
        " ran ",
        recorder->calls().size(),
        " times in the recorded pass; one teacher pass runs each layer once");
    records.push_back(std::move(recorder->calls().front()));
    records.back().layer = i;
  }
  return records;
}

AlignmentLoss layer_alignment_loss(
    const std::vector<std::pair<int64_t, std::shared_ptr<model::HybridAttention>>>& hybrids,
    const std::vector<LayerRecord>& records) {
  TORCH_CHECK(!hybrids.empty(), "stage 1: the student has no hybrid layers");
  std::map<int64_t, const LayerRecord*> by_layer;
  for (const auto& r : records) {
    by_layer[r.layer] = &r;
  }
  AlignmentLoss loss;
  std::vector<at::Tensor> terms;
  for (const auto& [i, hybrid] : hybrids) {
    const auto it = by_layer.find(i);
    TORCH_CHECK(it != by_layer.end(), "stage 1: no teacher record for hybrid layer ", i);
    const LayerRecord& r = *it->second;
    const at::Tensor target = r.output.to(at::kFloat);
    const at::Tensor mse = (hybrid->forward(r.input, r.context).to(at::kFloat) - target).square().mean();
    const at::Tensor term = mse / target.square().mean().clamp_min(1e-12);
    terms.push_back(term);
  }
  const at::Tensor all = at::stack(terms);
  loss.total = all.mean();
  loss.per_layer = all.detach();
  return loss;
}

} // namespace arl2::train
