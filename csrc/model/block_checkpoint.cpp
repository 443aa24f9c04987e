#include "model/block_checkpoint.h"

#include <vector>

#include <ATen/core/ivalue.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include "model/autocast_scope.h"

namespace arl2::model {
namespace {

// What the backward needs besides tensors, kept in the autograd context as a capsule.
struct Recomputation : torch::CustomClassHolder {
  std::shared_ptr<WanBlock> block;
  AttentionContext ctx;
  at::DeviceType device = at::kCPU;
  AutocastState autocast;
  std::vector<bool> input_requires_grad; // x, e0, context
};

constexpr size_t kBlockInputs = 3; // x, e0, context; the block's trainable parameters follow

class CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
 public:
  // `inputs`: x, e0, context, then the block's trainable parameters, so that the autograd graph links
  // the output to them even when no input requires a gradient.
  static at::Tensor forward(
      torch::autograd::AutogradContext* actx, at::TensorList inputs, c10::intrusive_ptr<Recomputation> r) {
    actx->save_for_backward(inputs.vec());
    const at::Tensor y = r->block->forward(inputs[0], inputs[1], inputs[2], r->ctx);
    actx->saved_data["recomputation"] = at::IValue::make_capsule(std::move(r));
    return y;
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* actx, torch::autograd::variable_list grad_outputs) {
    const auto r = c10::static_intrusive_pointer_cast<Recomputation>(actx->saved_data["recomputation"].toCapsule());
    const auto saved = actx->get_saved_variables();
    std::vector<at::Tensor> block_inputs;
    for (size_t i = 0; i < kBlockInputs; ++i) {
      block_inputs.push_back(saved[i].detach().requires_grad_(r->input_requires_grad[i]));
    }
    at::Tensor y;
    {
      torch::autograd::AutoGradMode grad_mode(true);
      AutocastScope autocast(r->device, r->autocast);
      y = r->block->forward(block_inputs[0], block_inputs[1], block_inputs[2], r->ctx);
    }
    // The tensors to differentiate: the inputs that need it, and every parameter passed in.
    std::vector<at::Tensor> targets;
    std::vector<size_t> target_of; // index into `saved`
    for (size_t i = 0; i < saved.size(); ++i) {
      const bool wanted = i < kBlockInputs ? r->input_requires_grad[i] : true;
      if (wanted) {
        targets.push_back(i < kBlockInputs ? block_inputs[i] : saved[i]);
        target_of.push_back(i);
      }
    }
    torch::autograd::variable_list grads(saved.size() + 1); // + the recomputation, which has none
    if (!targets.empty() && y.requires_grad()) {
      const auto computed = torch::autograd::grad(
          {y}, targets, {grad_outputs[0]}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t j = 0; j < computed.size(); ++j) {
        grads[target_of[j]] = computed[j];
      }
    }
    return grads;
  }
};

} // namespace

at::Tensor checkpointed_block_forward(
    const std::shared_ptr<WanBlock>& block,
    const at::Tensor& x,
    const at::Tensor& e0,
    const at::Tensor& context,
    const AttentionContext& ctx) {
  TORCH_CHECK(ctx.mode != AttentionMode::kCached, "activation checkpointing: not for cached attention");
  auto r = c10::make_intrusive<Recomputation>();
  r->block = block;
  r->ctx = ctx;
  r->device = x.device().type();
  r->autocast = autocast_state(r->device);
  std::vector<at::Tensor> inputs = {x, e0, context};
  for (const auto& t : {x, e0, context}) {
    r->input_requires_grad.push_back(t.requires_grad());
  }
  for (const auto& p : block->parameters()) {
    if (p.requires_grad()) {
      inputs.push_back(p);
    }
  }
  return CheckpointedBlock::apply(at::TensorList(inputs), std::move(r));
}

} // namespace arl2::model
