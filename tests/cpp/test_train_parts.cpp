// The trainer's parts on their own: the learning-rate schedule against its closed form, the EMA's
// update rule, and AdamW's two weight-decay groups.
#include <cmath>
#include <string>

#include <torch/torch.h>

#include "catch.h"
#include "model/conversion.h"
#include "model/hybrid_attention.h"
#include "model_test_util.h"
#include "test_util.h"
#include "train/ema.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

namespace arl2::test {
namespace {

TEST_CASE("warm-up is linear and the decay a cosine to the floor", "[train]") {
  const train::LrSchedule s{2e-4, 10, 110, 0.1};
  CHECK(std::abs(s.lr(0) - 2e-5) < 1e-18);
  CHECK(std::abs(s.lr(9) - 2e-4) < 1e-18);
  CHECK(std::abs(s.lr(10) - 2e-4) < 1e-18);                  // the cosine starts at the top
  CHECK(std::abs(s.lr(60) - (2e-5 + 1.8e-4 * 0.5)) < 1e-15); // half way
  CHECK(std::abs(s.lr(110) - 2e-5) < 1e-18);
  CHECK(std::abs(s.lr(500) - 2e-5) < 1e-18);
  for (int64_t i = 10; i < 110; ++i)
    CHECK(s.lr(i + 1) <= s.lr(i));
}

TEST_CASE("bad schedules name the field", "[train][errors]") {
  auto message = [](train::LrSchedule s) -> std::string {
    try {
      s.validate();
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  CHECK(message({-1.0, 0, 10, 0.1}).find("train.lr must be a positive number") != std::string::npos);
  CHECK(
      message({1e-4, 20, 10, 0.1}).find("train.warmup_steps (20) must not exceed train.steps (10)") !=
      std::string::npos);
  CHECK(message({1e-4, 0, 10, 2.0}).find("train.min_lr_ratio must be in [0, 1]") != std::string::npos);
}

TEST_CASE("the EMA copies before its start and averages after", "[train]") {
  auto p = torch::zeros({3}, torch::kBFloat16);
  train::Ema ema({{"w", p}}, 0.9, 2);
  p.fill_(1.0);
  ema.update(0); // before the start: a copy
  CHECK(ema.shadow()[0].second.dtype() == torch::kFloat32);
  CHECK(torch::equal(ema.shadow()[0].second, torch::ones({3})));
  ema.update(1);
  p.fill_(3.0);
  ema.update(2); // 0.9 * 1 + 0.1 * 3
  CHECK(rel_err(ema.shadow()[0].second.to(torch::kFloat64), torch::full({3}, 1.2, torch::kFloat64)) < 1e-6);
}

TEST_CASE("AdamW decays every trainable parameter but those the layers declare", "[train]") {
  auto w = torch::ones({4}).requires_grad_();
  auto a_log = torch::ones({2}).requires_grad_();
  auto dt_bias = torch::ones({2}).requires_grad_();
  auto opt = train::make_adamw(
      {{"blocks.0.self_attn.a_proj.weight", w},
       {"blocks.0.self_attn.A_log", a_log},
       {"blocks.0.self_attn.dt_bias", dt_bias}},
      {0.1, 0.9, 0.999, 1e-8, 0.5},
      {a_log, dt_bias});
  train::set_lr(*opt, 0.2);
  for (auto* p : {&w, &a_log, &dt_bias})
    p->mutable_grad() = torch::zeros_like(*p); // no gradient: only the weight decay moves a parameter
  opt->step();
  CHECK(torch::allclose(w, torch::full({4}, 1.0 - 0.2 * 0.5)));
  CHECK(torch::equal(a_log, torch::ones({2})));
  CHECK(torch::equal(dt_bias, torch::ones({2})));

  // a hybrid layer declares its decay's parameters
  auto dit = random_tiny(torch::kFloat32);
  model::HybridOptions h;
  h.ratio = 0.5;
  model::convert_to_hybrid(*dit, h);
  const auto [index, layer] = model::hybrid_layers(*dit).front();
  const auto named = layer->named_parameters();
  const auto declared = layer->no_weight_decay_parameters();
  REQUIRE(declared.size() == 2);
  CHECK(declared[0].is_same(named["A_log"]));
  CHECK(declared[1].is_same(named["dt_bias"]));
}

TEST_CASE("the optimizer refuses frozen parameters by name", "[train][errors]") {
  std::string message;
  try {
    train::make_adamw({{"blocks.0.ffn.0.weight", torch::ones({2})}}, {});
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  }
  CHECK(message.find("parameter blocks.0.ffn.0.weight is frozen") != std::string::npos);
}

} // namespace
} // namespace arl2::test
