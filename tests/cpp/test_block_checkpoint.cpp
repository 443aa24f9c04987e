// Activation checkpointing per DiT block: the student's gradients and output with it equal those without,
// in both training forwards, with and without LoRA.
#include <torch/torch.h>

#include "catch.h"
#include "model/conversion.h"
#include "model_test_util.h"

namespace arl2::test {
namespace {

// Every trainable parameter's gradient (and the output) of one teacher-forcing or block-causal pass.
std::vector<torch::Tensor> gradients(model::WanDiT& student, bool checkpointed, bool teacher_forcing) {
  torch::manual_seed(3);
  const auto c = make_clip(torch::kFloat64);
  student.set_activation_checkpointing(checkpointed);
  for (auto& p : student.parameters()) {
    p.mutable_grad() = torch::Tensor();
  }
  const auto y = teacher_forcing ? student.forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2)
                                 : student.forward_block_causal(c.noisy, c.noisy_t, c.context, 2);
  (y * torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes())).sum().backward();
  std::vector<torch::Tensor> out = {y.detach()};
  for (const auto& p : student.parameters()) {
    if (p.requires_grad()) {
      REQUIRE(p.grad().defined());
      out.push_back(p.grad().clone());
    }
  }
  return out;
}

TEST_CASE("checkpointed blocks give the gradients of plain ones", "[model][checkpointing]") {
  auto teacher = random_tiny(torch::kFloat64);
  model::HybridOptions options;
  options.layers = {0};
  options.lora = GENERATE(false, true);
  auto student = model::make_hybrid_student(*teacher, options);
  {
    // LoRA's B starts at zero, which would hide a wrong gradient of A.
    torch::NoGradGuard no_grad;
    for (auto& p : student->named_parameters()) {
      if (p.key().find("lora") != std::string::npos) {
        p.value().normal_(0, 0.1);
      }
    }
  }
  for (const bool teacher_forcing : {true, false}) {
    INFO("lora " << options.lora << ", teacher forcing " << teacher_forcing);
    const auto plain = gradients(*student, false, teacher_forcing);
    const auto checkpointed = gradients(*student, true, teacher_forcing);
    REQUIRE(plain.size() == checkpointed.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      CHECK(torch::allclose(plain[i], checkpointed[i], 1e-12, 1e-12));
    }
  }
}

TEST_CASE("checkpointing stays out of passes without gradients", "[model][checkpointing]") {
  auto teacher = random_tiny(torch::kFloat32);
  model::HybridOptions options;
  options.layers = {0};
  auto student = model::make_hybrid_student(*teacher, options);
  student->set_activation_checkpointing(true);
  const auto c = make_clip(torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto y = student->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  CHECK_FALSE(y.requires_grad());
}

} // namespace
} // namespace arl2::test
