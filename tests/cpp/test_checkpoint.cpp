// Training checkpoints: N steps in one run equal K steps, a save, a fresh run that loads it, and N - K
// steps, bitwise (parameters, AdamW moments, EMA, RNG draws, data order); and checkpoints that do not fit
// the run are named.
#include <memory>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "catch.h"
#include "model_test_util.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

namespace arl2::test {
namespace {

// A small run with every piece of state a checkpoint must carry: a decayed and an exempt parameter,
// AdamW, an EMA, a generator drawing each step's input and a sampler choosing each step's target.
struct ToyRun {
  at::Tensor weight = torch::linspace(-1, 1, 6).requires_grad_();
  at::Tensor a_log = torch::full({2}, 0.5).requires_grad_();
  std::vector<std::pair<std::string, at::Tensor>> params = {
      {"blocks.0.self_attn.a_proj.weight", weight}, {"blocks.0.self_attn.A_log", a_log}};
  std::unique_ptr<torch::optim::AdamW> optimizer = train::make_adamw(params, {1e-2, 0.9, 0.99, 1e-8, 0.1});
  train::Ema ema{params, 0.9, 1};
  at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(11);
  train::ShardedSampler sampler{10, 3, 0, 1};
  train::LrSchedule schedule{1e-2, 2, 6, 0.1};
  int64_t step = 0;

  void train_step() {
    const auto x = at::randn({6}, rng);
    const double target = static_cast<double>(sampler.next());
    const auto loss = ((weight * x).sum() - target).square() + a_log.square().sum();
    optimizer->zero_grad();
    loss.backward();
    train::set_lr(*optimizer, schedule.lr(step));
    optimizer->step();
    ema.update(step);
    ++step;
  }
  train::CheckpointState state() const {
    return {step, sampler.position(), "cfg-1", "base.safetensors"};
  }
};

TEST_CASE("a resumed run continues bitwise", "[train][checkpoint]") {
  ToyRun straight;
  for (int i = 0; i < 6; ++i)
    straight.train_step();

  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  {
    ToyRun first;
    for (int i = 0; i < 3; ++i)
      first.train_step();
    train::save_checkpoint(path, first.params, *first.optimizer, first.ema, first.state(), first.rng);
  }
  ToyRun resumed;
  const auto state =
      train::load_checkpoint(path, resumed.params, *resumed.optimizer, resumed.ema, resumed.rng, "cfg-1");
  CHECK(state.step == 3);
  CHECK(state.base_weights == "base.safetensors");
  resumed.step = state.step;
  resumed.sampler.set_position(state.data);
  for (int i = 0; i < 3; ++i)
    resumed.train_step();

  CHECK(torch::equal(resumed.weight, straight.weight));
  CHECK(torch::equal(resumed.a_log, straight.a_log));
  for (size_t i = 0; i < 2; ++i)
    CHECK(torch::equal(resumed.ema.shadow()[i].second, straight.ema.shadow()[i].second));
  CHECK(torch::equal(at::randn({3}, resumed.rng), at::randn({3}, straight.rng)));
}

TEST_CASE("checkpoints that do not fit the run are named", "[train][checkpoint][errors]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  ToyRun run;
  run.train_step();
  train::save_checkpoint(path, run.params, *run.optimizer, run.ema, run.state(), run.rng);

  ToyRun other;
  CHECK(contains(
      error_of([&] { train::load_checkpoint(path, other.params, *other.optimizer, other.ema, other.rng, "cfg-2"); }),
      "written under config hash cfg-1, this run's is cfg-2"));

  auto wider = torch::zeros({7}).requires_grad_();
  std::vector<std::pair<std::string, at::Tensor>> mis_shaped = {
      {"blocks.0.self_attn.a_proj.weight", wider}, {"blocks.0.self_attn.A_log", other.a_log}};
  auto opt = train::make_adamw(mis_shaped, {});
  train::Ema ema(mis_shaped, 0.9, 0);
  CHECK(contains(
      error_of([&] { train::load_checkpoint(path, mis_shaped, *opt, ema, other.rng, ""); }),
      "'param.blocks.0.self_attn.a_proj.weight' has shape [6], the run expects [7]"));

  std::vector<std::pair<std::string, at::Tensor>> fewer = {{"blocks.0.self_attn.A_log", other.a_log}};
  auto opt2 = train::make_adamw(fewer, {});
  train::Ema ema2(fewer, 0.9, 0);
  CHECK(contains(
      error_of([&] { train::load_checkpoint(path, fewer, *opt2, ema2, other.rng, ""); }),
      "'param.blocks.0.self_attn.a_proj.weight' is not a trainable parameter of this run"));
}

} // namespace
} // namespace arl2::test
