// Stage 1's parts: recording the teacher's self-attention inputs and outputs in one teacher-forcing pass
// (and leaving the teacher as it was), and the normalised per-layer loss that trains only the hybrid
// layers' new parameters.
#include <torch/torch.h>

#include "catch.h"
#include "model/conversion.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "train/layer_alignment.h"

namespace arl2::test {
namespace {

TEST_CASE("one teacher pass records each converted layer's input and output", "[train][stage1]") {
  auto teacher = random_tiny(torch::kFloat64);
  const auto names_before = model::parameter_shapes(*teacher);
  const auto c = make_clip(torch::kFloat64);
  const auto run = [&] { teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2); };
  const auto expected = teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);

  const auto records = train::record_self_attention(*teacher, {0, 1}, run);
  REQUIRE(records.size() == 2);
  CHECK(model::parameter_shapes(*teacher) == names_before); // the recorders are gone
  CHECK(torch::equal(teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), expected));
  for (const auto& r : records) {
    CHECK(r.context.mode == model::AttentionMode::kTeacherForcing);
    CHECK(!r.input.requires_grad());
    // the record is what the teacher's layer makes of its input
    CHECK(torch::equal(teacher->blocks()[r.layer]->self_attention()->forward(r.input, r.context), r.output));
  }
  CHECK(contains(
      error_of([&] { train::record_self_attention(*teacher, {2}, run); }),
      "stage 1: layer 2 is not a block of a model of 2"));
}

TEST_CASE("the alignment loss trains the hybrid layers' new parameters only", "[train][stage1]") {
  auto teacher = random_tiny(torch::kFloat32);
  const auto c = make_clip(torch::kFloat32);
  model::HybridOptions options;
  options.layers = {0, 1};
  auto student = model::make_hybrid_student(*teacher, options);
  const auto records = train::record_self_attention(*teacher, options.layers, [&] {
    teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  });
  const auto hybrids = model::hybrid_layers(*student);

  auto loss = train::layer_alignment_loss(hybrids, records);
  REQUIRE(loss.per_layer.size(0) == 2);
  CHECK(loss.total.item<double>() > 0);
  loss.total.backward();
  for (const auto& p : student->named_parameters()) {
    const bool is_new = !teacher->named_parameters().contains(p.key());
    INFO(p.key());
    CHECK(p.value().grad().defined() == is_new);
  }

  // a few steps on the new parameters lower it
  std::vector<at::Tensor> trainable;
  for (const auto& p : student->parameters())
    if (p.requires_grad())
      trainable.push_back(p);
  torch::optim::Adam adam(trainable, torch::optim::AdamOptions(1e-2));
  const double first = loss.total.item<double>();
  for (int step = 0; step < 20; ++step) {
    adam.zero_grad();
    loss = train::layer_alignment_loss(hybrids, records);
    loss.total.backward();
    adam.step();
  }
  CHECK(train::layer_alignment_loss(hybrids, records).total.item<double>() < 0.8 * first);
}

} // namespace
} // namespace arl2::test
