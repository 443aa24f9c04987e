// The flow-matching schedule against its closed forms (Self Forcing's warped 4-step list at shift 5), the
// nearest-entry sigma lookup, the block sampler against a loop written out with the same noise draws, and its
// trajectory entered at any step.
#include <cmath>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "inference/flow_matching.h"
#include "test_util.h"

namespace arl2::test {
namespace {

using inference::FlowMatchOptions;
using inference::FlowMatchSchedule;

double shifted(double sigma, double shift) {
  return shift * sigma / (1 + (shift - 1) * sigma);
}

TEST_CASE("warped steps at shift 5 are 1000, 937.5, 833.3, 625", "[flow_matching]") {
  const FlowMatchSchedule schedule{FlowMatchOptions{}};
  const std::vector<double> expected = {1000.0, 937.5, 1000.0 * shifted(0.5, 5.0), 625.0};
  REQUIRE(schedule.step_timesteps().size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    CHECK(std::abs(schedule.step_timesteps()[i] - expected[i]) < 1e-9);
  CHECK(std::abs(expected[2] - 2500.0 / 3.0) < 1e-9);
}

TEST_CASE("unwarped steps are the list itself", "[flow_matching]") {
  FlowMatchOptions o;
  o.warp = false;
  o.shift = 8.0;
  o.denoising_steps = {1000, 757, 522};
  const FlowMatchSchedule schedule(o);
  CHECK(schedule.step_timesteps() == std::vector<double>{1000.0, 757.0, 522.0});
}

TEST_CASE("sigma is the nearest table entry's", "[flow_matching]") {
  const FlowMatchSchedule schedule{FlowMatchOptions{}};
  CHECK(schedule.sigma(1000.0) == 1.0);
  CHECK(schedule.sigma(2000.0) == 1.0);
  // t = 0 (the clean pass) gets the smallest entry, sigma'(0.001), not 0
  CHECK(std::abs(schedule.sigma(0.0) - shifted(0.001, 5.0)) < 1e-15);
  // every warped step is a table entry, so its sigma is exactly t / 1000
  for (const double t : schedule.step_timesteps())
    CHECK(std::abs(schedule.sigma(t) - t / 1000.0) < 1e-15);
  // between entries i and i + 1, the nearer one wins
  const double a = 1000.0 * shifted(0.5, 5.0), b = 1000.0 * shifted(0.499, 5.0);
  CHECK(schedule.sigma(a - 0.25 * (a - b)) == a / 1000.0);
  CHECK(schedule.sigma(b + 0.25 * (a - b)) == b / 1000.0);
}

TEST_CASE("the block sampler re-noises each x0 estimate with fresh noise", "[flow_matching]") {
  const FlowMatchSchedule schedule{FlowMatchOptions{}};
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  const auto target = torch::randn(shape, f64);
  std::vector<torch::Tensor> seen;
  std::vector<double> times;
  // a model that knows the answer: its flow turns any x_t back into target
  const inference::FlowModel oracle = [&](const at::Tensor& x_t, double t) {
    seen.push_back(x_t.clone());
    times.push_back(t);
    return (x_t - target) / schedule.sigma(t);
  };
  const auto out =
      inference::denoise_block(schedule, oracle, shape, f64, at::make_generator<at::CPUGeneratorImpl>(1234));
  CHECK(rel_err(out, target) < 1e-14);

  // the same loop written out: draw i is the input of step i (pure noise first, then re-noised target)
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  REQUIRE(seen.size() == 4);
  CHECK(times == schedule.step_timesteps());
  for (size_t i = 0; i < seen.size(); ++i) {
    const auto eps = at::randn(shape, gen, f64);
    const double s = schedule.sigma(times[i]);
    const auto expected = i == 0 ? eps : (1 - s) * target + s * eps;
    CHECK(rel_err(seen[i], expected) < 1e-14);
  }
}

TEST_CASE("the Euler sampler follows the flow ODE from its one draw of noise", "[flow_matching]") {
  FlowMatchOptions options;
  options.sampler = inference::Sampler::kEuler;
  const FlowMatchSchedule schedule{options};
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  const auto a = torch::randn(shape, f64);
  // a flow that depends on x_t and t, so that a step taken from the wrong point or with the wrong size shows
  const inference::FlowModel model = [&](const at::Tensor& x_t, double t) { return a * x_t.tanh() + t / 1000; };
  const auto out = inference::denoise_block(schedule, model, shape, f64, at::make_generator<at::CPUGeneratorImpl>(7));

  // dx / dsigma = flow for x = (1 - sigma) x0 + sigma eps: an Euler step per sampler step, then x0 at the last
  auto x = torch::randn(shape, at::make_generator<at::CPUGeneratorImpl>(7), f64);
  const auto& steps = schedule.step_timesteps();
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    x = x + (schedule.sigma(steps[i + 1]) - schedule.sigma(steps[i])) * model(x, steps[i]);
  }
  const auto expected = x - schedule.sigma(steps.back()) * model(x, steps.back());
  CHECK(rel_err(out, expected) < 1e-12);
}

TEST_CASE("the sampler's input at a step is the block's trajectory entered there", "[flow_matching]") {
  const FlowMatchSchedule schedule{FlowMatchOptions{}};
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  const auto target = torch::randn(shape, f64);
  std::vector<torch::Tensor> seen;
  const inference::FlowModel oracle = [&](const at::Tensor& x_t, double t) {
    seen.push_back(x_t.clone());
    return (x_t - target) / schedule.sigma(t) + 0.1 * x_t; // not exact, so that each step's input differs
  };
  inference::denoise_block(schedule, oracle, shape, f64, at::make_generator<at::CPUGeneratorImpl>(77));
  const auto trajectory = seen;
  for (int64_t step = 0; step < 4; ++step) {
    INFO("step " << step);
    seen.clear();
    const auto x =
        inference::sampler_input(schedule, oracle, step, shape, f64, at::make_generator<at::CPUGeneratorImpl>(77));
    CHECK(torch::equal(x, trajectory[step]));
    CHECK(seen.size() == static_cast<size_t>(step)); // the model runs the steps before it only
  }
  CHECK(error_of([&] {
          inference::sampler_input(schedule, oracle, 4, shape, f64, std::nullopt);
        }).find("sampler_input: step 4 is not one of the sampler's 4") != std::string::npos);
}

TEST_CASE("bad schedule options name the field", "[flow_matching][errors]") {
  auto message = [](FlowMatchOptions o) -> std::string {
    try {
      FlowMatchSchedule s(o);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  FlowMatchOptions o;
  o.denoising_steps = {1000, 1000};
  CHECK(message(o).find("inference.denoising_steps must be strictly decreasing") != std::string::npos);
  o.denoising_steps = {1001};
  CHECK(message(o).find("inference.denoising_steps[0] must be in (0, 1000], got 1001") != std::string::npos);
  o.denoising_steps = {};
  CHECK(message(o).find("inference.denoising_steps must list at least one step") != std::string::npos);
  o = FlowMatchOptions{};
  o.shift = -1;
  CHECK(message(o).find("inference.shift must be a positive number") != std::string::npos);
}

} // namespace
} // namespace arl2::test
