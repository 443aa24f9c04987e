// The teacher-forcing input: per-block timesteps from the warped step list (stages 1 and 2) or the table (stage 0),
// noise at exactly that level, the clean half at the context timestep, reproducible from the generator; and the
// distillation loss.
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "catch.h"
#include "model_test_util.h"
#include "test_util.h"
#include "train/teacher_forcing_input.h"

namespace arl2::test {
namespace {

TEST_CASE("each block is noised to a timestep of the step list", "[train][stage2]") {
  const inference::FlowMatchSchedule schedule{inference::FlowMatchOptions{}};
  const auto latents = torch::randn({3, 6, 4, 2, 2}, torch::kFloat64); // [B, F, C, H, W], blocks of 2
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto in = train::make_teacher_forcing_input(latents, schedule, schedule.step_timesteps(), 2, 0.0, gen);
  CHECK(in.noisy.sizes() == torch::IntArrayRef({3, 4, 6, 2, 2}));
  CHECK(torch::equal(in.clean, latents.permute({0, 2, 1, 3, 4})));
  CHECK(torch::equal(in.clean_t, torch::zeros({3, 6})));
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t f = 0; f < 6; ++f) {
      const double t = in.noisy_t[b][f].item<double>();
      bool on_list = false; // the timesteps are float32, the list double
      for (const double step : schedule.step_timesteps())
        on_list |= std::abs(t - step) < 1e-4;
      CHECK(on_list);
      CHECK(t == in.noisy_t[b][f - f % 2].item<double>()); // one timestep per block
    }
  }
  // the noise is exactly at that level: eps = (noisy - (1 - sigma) clean) / sigma is a unit Gaussian
  const auto sigma = (in.noisy_t.to(torch::kFloat64) / 1000).view({3, 1, 6, 1, 1});
  const auto eps = (in.noisy - (1 - sigma) * in.clean) / sigma;
  CHECK(std::abs(eps.std().item<double>() - 1.0) < 0.2);

  auto again = at::make_generator<at::CPUGeneratorImpl>(5);
  CHECK(torch::equal(
      train::make_teacher_forcing_input(latents, schedule, schedule.step_timesteps(), 2, 0.0, again).noisy, in.noisy));
  CHECK(contains(
      error_of([&] { train::make_teacher_forcing_input(latents, schedule, schedule.step_timesteps(), 4, 0.0, gen); }),
      "the clip's 6 latent frames must be a whole number of blocks of inference.frames_per_block (4)"));
}

TEST_CASE("stage 0's levels, the table, cover the whole range of noise", "[train][stage0]") {
  const inference::FlowMatchSchedule schedule{inference::FlowMatchOptions{}};
  const auto latents = torch::zeros({64, 8, 1, 1, 1}, torch::kFloat64); // 256 blocks of 2 frames
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto in = train::make_teacher_forcing_input(latents, schedule, schedule.table_timesteps(), 2, 0.0, gen);
  const auto t = std::get<0>(at::_unique(in.noisy_t.flatten()));
  CHECK(t.numel() > 150); // 256 draws from 1000 levels
  CHECK(t.min().item<double>() < 200);
  CHECK(t.max().item<double>() > 950);
  CHECK(contains(
      error_of([&] { train::make_teacher_forcing_input(latents, schedule, {}, 2, 0.0, gen); }),
      "no timesteps to draw from"));
}

TEST_CASE("the distillation loss is the MSE to the detached teacher", "[train][stage2]") {
  const auto student = torch::randn({2, 3}).requires_grad_();
  const auto teacher = torch::randn({2, 3}).requires_grad_();
  const auto loss = train::distillation_loss(student, teacher);
  CHECK(rel_err(loss.to(torch::kFloat64), (student - teacher).square().mean().to(torch::kFloat64)) < 1e-6);
  loss.backward();
  CHECK(student.grad().defined());
  CHECK(!teacher.grad().defined());
}

} // namespace
} // namespace arl2::test
