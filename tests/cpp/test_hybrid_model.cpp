// Tests of the hybrid layer and the conversion (csrc/model/hybrid_attention.h, conversion.h): layer
// selection, names, shapes and initialisation of the new parameters, shared and frozen teacher
// tensors, what a fresh conversion preserves, agreement of the three modes at 50% and 100% hybrid,
// gradients, diagnostics, weights round trip, merging the FFN adapters, the 1.3B preset's trainable share, and errors.
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "model/conversion.h"
#include "model/hybrid_attention.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "test_util.h"

namespace arl2::test {
namespace {

using model::HybridOptions;
using model::KVCacheSpec;
using model::WanDiT;

HybridOptions ratio(double r, bool lora = false) {
  HybridOptions o;
  o.ratio = r;
  o.lora = lora;
  return o;
}

HybridOptions layers(std::vector<int64_t> l) {
  HybridOptions o;
  o.layers = std::move(l);
  return o;
}

std::vector<int64_t> range(int64_t n) {
  std::vector<int64_t> r;
  for (int64_t i = 0; i < n; ++i) {
    r.push_back(i);
  }
  return r;
}

// Random weights everywhere (see randomize), with the decay kept mild, so that the memory of earlier
// blocks shows in every output instead of decaying away within a block of 12 tokens.
void randomize_hybrid(WanDiT& m) {
  randomize(m);
  torch::NoGradGuard no_grad;
  for (auto& p : m.named_parameters()) {
    if (contains(p.key(), "A_log")) {
      p.value().uniform_(-4.0, -2.0);
    }
  }
}

// The prediction for the noisy clip block by block, as generation runs: two denoising passes read
// the caches (the second must see what the first saw), then the clean block at timestep 0 writes them,
// through commit_cached or through forward_cached with write_cache.
torch::Tensor generate(const WanDiT& m, const Clip& c, int64_t frames_per_block, bool commit_only = false) {
  auto caches = m.make_caches(2, 4, 6, KVCacheSpec{6});
  std::vector<torch::Tensor> blocks;
  for (int64_t f = 0; f < 6; f += frames_per_block) {
    for (int pass = 0; pass < 2; ++pass) {
      const auto y = m.forward_cached(
          frames(c.noisy, f, frames_per_block), c.noisy_t.narrow(1, f, frames_per_block), c.context, caches, false);
      if (pass == 1) {
        blocks.push_back(y);
      }
    }
    CHECK(caches.front().frames_committed() == f);
    const auto clean = frames(c.clean, f, frames_per_block);
    const auto clean_t = c.clean_t.narrow(1, f, frames_per_block);
    if (commit_only) {
      m.commit_cached(clean, clean_t, c.context, caches);
    } else {
      m.forward_cached(clean, clean_t, c.context, caches, true);
    }
  }
  return torch::cat(blocks, 2);
}

TEST_CASE("hybrid layers are picked by list or by ratio, first policy", "[hybrid]") {
  // The authors' 75% model converts layers 0-21 of 30: 22.5 rounds half to even.
  CHECK(model::hybrid_layer_indices(ratio(0.75), 30) == range(22));
  CHECK(model::hybrid_layer_indices(ratio(0.5), 30) == range(15));
  CHECK(model::hybrid_layer_indices(ratio(1.0), 30) == range(30));
  CHECK(model::hybrid_layer_indices(ratio(0.5), 2) == range(1));
  CHECK(model::hybrid_layer_indices(layers({5, 1, 3}), 30) == std::vector<int64_t>{1, 3, 5});
  CHECK(model::layer_policy("first") == model::LayerPolicy::kFirst);

  CHECK(contains(error_of([] { model::hybrid_layer_indices(HybridOptions{}, 30); }), "not neither"));
  auto both = layers({1});
  both.ratio = 0.5;
  CHECK(contains(error_of([&] { model::hybrid_layer_indices(both, 30); }), "not both"));
  CHECK(contains(
      error_of([] {
        model::hybrid_layer_indices(layers({0, 30}), 30);
      }),
      "hybrid.layers: layer 30 is out of range for a model of 30 layers"));
  CHECK(contains(error_of([] { model::hybrid_layer_indices(layers({2, 2}), 30); }), "layer 2 is listed twice"));
  CHECK(
      contains(error_of([] { model::hybrid_layer_indices(ratio(1.5), 30); }), "hybrid.ratio (1.5) must be in (0, 1]"));
  CHECK(contains(error_of([] { model::hybrid_layer_indices(ratio(0.01), 30); }), "selects no layer of 30"));
  CHECK(contains(error_of([] { model::layer_policy("last"); }), "hybrid.policy 'last' is unknown"));
}

TEST_CASE("conversion keeps Wan's names, adds the authors' and initialises them as the authors do", "[hybrid]") {
  auto m = random_tiny(torch::kFloat64);
  const auto before = model::parameter_shapes(*m);
  CHECK(model::convert_to_hybrid(*m, layers({1})) == std::vector<int64_t>{1});
  model::convert_to_hybrid(*m, layers({0}));
  const auto shapes = model::parameter_shapes(*m);
  for (const auto& [name, shape] : before) {
    INFO(name);
    REQUIRE(shapes.count(name) == 1);
    CHECK(shapes.at(name) == shape);
  }
  // tiny: dim 64, 2 heads of 32, FFN 128; LoRA rank 16.
  auto student = model::make_hybrid_student(*random_tiny(torch::kFloat64), ratio(1.0, true));
  const std::map<std::string, std::vector<int64_t>> added = {
      {"a_proj.weight", {2, 64}},
      {"b_proj.weight", {2, 64}},
      {"gate_proj.weight", {2, 64}},
      {"A_log", {2}},
      {"dt_bias", {2}},
      {"phi_q.weight", {64, 32, 1}},
      {"phi_k.weight", {64, 32, 1}},
      {"phi_v.weight", {64, 32, 1}},
      {"lora_q_A", {64, 16}},
      {"lora_q_B", {16, 64}},
      {"lora_k_A", {64, 16}},
      {"lora_k_B", {16, 64}},
      {"lora_v_A", {64, 16}},
      {"lora_v_B", {16, 64}},
  };
  const auto student_shapes = model::parameter_shapes(*student);
  CHECK(student_shapes.size() == before.size() + 2 * (added.size() + 4));
  const auto params = student->named_parameters();
  for (const std::string block : {"blocks.0.", "blocks.1."}) {
    for (const auto& [name, shape] : added) {
      INFO(block + "self_attn." + name);
      REQUIRE(student_shapes.count(block + "self_attn." + name) == 1);
      CHECK(student_shapes.at(block + "self_attn." + name) == shape);
    }
    CHECK(student_shapes.at(block + "ffn.0.lora_A") == std::vector<int64_t>{64, 16});
    CHECK(student_shapes.at(block + "ffn.0.lora_B") == std::vector<int64_t>{16, 128});
    CHECK(student_shapes.at(block + "ffn.2.lora_A") == std::vector<int64_t>{128, 16});
    CHECK(student_shapes.at(block + "ffn.2.lora_B") == std::vector<int64_t>{16, 64});

    const auto eye = torch::eye(32, torch::kFloat64).repeat({2, 1}).unsqueeze(-1);
    for (const std::string phi : {"phi_q", "phi_k", "phi_v"}) {
      CHECK(torch::equal(params[block + "self_attn." + phi + ".weight"], eye));
    }
    for (const std::string b : {"self_attn.lora_q_B", "self_attn.lora_k_B", "self_attn.lora_v_B", "ffn.0.lora_B"}) {
      CHECK(params[block + b].abs().max().item<double>() == 0);
    }
    CHECK(params[block + "self_attn.lora_q_A"].abs().max().item<double>() > 0);
    // A = exp(A_log) in (0, 16); dt = softplus(dt_bias) in [1e-3, 0.1]; projections of gain 2^-2.5.
    const auto A = params[block + "self_attn.A_log"].exp();
    CHECK(((A > 0) & (A < 16)).all().item<bool>());
    const auto dt = torch::softplus(params[block + "self_attn.dt_bias"]);
    CHECK(((dt > 1e-3 - 1e-12) & (dt < 0.1 + 1e-12)).all().item<bool>());
    const double bound = std::pow(2.0, -2.5) * std::sqrt(6.0 / (64 + 2));
    CHECK(params[block + "self_attn.gate_proj.weight"].abs().max().item<double>() <= bound);
  }
}

TEST_CASE("a student shares the teacher's tensors, frozen, and leaves the teacher as it was", "[hybrid]") {
  const auto teacher = random_tiny(torch::kFloat32);
  const auto c = make_clip(torch::kFloat32);
  const auto teacher_before = teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  const auto student = model::make_hybrid_student(*teacher, ratio(0.5, true));
  const auto student_params = student->named_parameters();
  for (const auto& p : teacher->named_parameters()) {
    INFO(p.key());
    const auto& s = student_params[p.key()];
    CHECK(s.data_ptr() == p.value().data_ptr());
    CHECK_FALSE(s.requires_grad());
    CHECK(p.value().requires_grad());
  }
  // In place too: the hybrid layer holds the very modules of the softmax layer it replaces.
  auto m = random_tiny(torch::kFloat32);
  const auto softmax = std::dynamic_pointer_cast<model::SoftmaxAttention>(m->blocks()[0]->self_attention());
  REQUIRE(softmax != nullptr);
  model::convert_to_hybrid(*m, layers({0}));
  const auto hybrid = model::hybrid_layers(*m).at(0).second;
  CHECK(hybrid->parts.q == softmax->parts.q);
  CHECK(hybrid->parts.norm_k == softmax->parts.norm_k);
  CHECK(m->named_parameters()["blocks.0.self_attn.o.weight"].data_ptr() == softmax->parts.o->weight.data_ptr());

  const auto groups = model::group_parameters(*student);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].name == "base");
  CHECK(groups[0].parameters.size() == teacher->named_parameters().size());
  CHECK(groups[0].trainable_numel() == 0);
  CHECK(groups[1].parameters.size() == 8);  // one hybrid layer
  CHECK(groups[2].parameters.size() == 10); // q, k, v and two FFN linears, A and B each
  CHECK(groups[1].trainable_numel() + groups[2].trainable_numel() == groups[1].numel() + groups[2].numel());

  student->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  CHECK(torch::equal(
      teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), teacher_before));
}

TEST_CASE("a fresh hybrid equals its teacher where the memory is empty, and zero LoRA changes nothing", "[hybrid]") {
  const auto teacher = random_tiny(torch::kFloat64);
  const auto c = make_clip(torch::kFloat64);
  for (const double r : {0.5, 1.0}) {
    INFO("ratio " << r);
    const auto student = model::make_hybrid_student(*teacher, ratio(r));
    // The first block reads the zero state: its intra branch is the teacher's attention within the block.
    const auto t = teacher->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
    const auto s = student->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
    const double first_block = rel_err(frames(s, 0, 2), frames(t, 0, 2));
    INFO("first block: relative error " << first_block);
    CHECK(first_block < 1e-12);
    CHECK(rel_err(frames(s, 2, 4), frames(t, 2, 4)) > 1e-3); // later blocks read a memory
    // One block over the whole clip: no memory at all.
    CHECK(
        rel_err(
            student->forward_block_causal(c.noisy, c.noisy_t, c.context, 6),
            teacher->forward_block_causal(c.noisy, c.noisy_t, c.context, 6)) < 1e-12);

    // LoRA with B = 0 leaves every output as it was.
    const auto with_lora = model::make_hybrid_student(*teacher, ratio(r, true));
    {
      torch::NoGradGuard no_grad;
      const auto from = student->named_parameters();
      for (auto& p : with_lora->named_parameters()) {
        const auto* q = from.find(p.key());
        if (q != nullptr && q->requires_grad()) { // the memory path's; the base ones are shared already
          p.value().copy_(*q);
        }
      }
    }
    CHECK(torch::allclose(
        with_lora->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), s, 0, 1e-13));
  }
}

TEST_CASE(
    "hybrid modes agree: teacher forcing = generation with clean-pass writes; block-causal = cached", "[hybrid]") {
  // float64: the paths compute the same function; float32: they differ by rounding only.
  for (const auto [dtype, tol] : {std::pair{torch::kFloat64, 1e-12}, std::pair{torch::kFloat32, 1e-5}}) {
    for (const double r : {0.5, 1.0}) {
      for (const bool lora : {false, true}) {
        INFO("dtype " << dtype << ", ratio " << r << ", lora " << lora);
        const auto m = random_tiny(dtype);
        model::convert_to_hybrid(*m, ratio(r, lora));
        randomize_hybrid(*m);
        const auto c = make_clip(dtype);

        const auto teacher = m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
        const double tf_err = rel_err(generate(*m, c, 2), teacher);
        INFO("teacher forcing vs generation: relative error " << tf_err);
        CHECK(tf_err < tol);
        // Not vacuous: without the clean memory the noisy prediction changes.
        CHECK(rel_err(m->forward_block_causal(c.noisy, c.noisy_t, c.context, 2), teacher) > 1e-2);

        const auto t = torch::rand({2, 6}) * 1000; // per frame, varying inside blocks too
        const auto whole = m->forward_block_causal(c.noisy, t, c.context, 3);
        auto caches = m->make_caches(2, 4, 6, KVCacheSpec{6});
        std::vector<torch::Tensor> blocks;
        for (int64_t f = 0; f < 6; f += 3) {
          blocks.push_back(m->forward_cached(frames(c.noisy, f, 3), t.narrow(1, f, 3), c.context, caches, true));
        }
        const double bc_err = rel_err(torch::cat(blocks, 2), whole);
        INFO("block-causal vs cached: relative error " << bc_err);
        CHECK(bc_err < tol);
        const auto* state = caches.front().as_recurrent_state();
        REQUIRE(state != nullptr);
        CHECK(state->frames_committed() == 6);
        CHECK(state->state().scalar_type() == (dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32));
        CHECK(state->state().abs().max().item<double>() > 0);
        CHECK((caches.back().as_recurrent_state() != nullptr) == (r == 1.0));
      }
    }
  }
}

TEST_CASE("commit_cached leaves the caches as forward_cached with write_cache does", "[hybrid]") {
  // The teacher (a KV cache in every layer), and hybrids whose last layer is softmax (ratio 0.5, first layers) or
  // hybrid (ratio 1), with and without LoRA: the later predictions, which read the caches, are the same.
  for (const double r : {0.0, 0.5, 1.0}) {
    for (const bool lora : {false, true}) {
      INFO("ratio " << r << ", lora " << lora);
      const auto m = random_tiny(torch::kFloat64);
      if (r > 0) {
        model::convert_to_hybrid(*m, ratio(r, lora));
        randomize_hybrid(*m);
      }
      const auto c = make_clip(torch::kFloat64);
      CHECK(rel_err(generate(*m, c, 2, /*commit_only=*/true), generate(*m, c, 2)) < 1e-14);
    }
  }
  // Caches made for another frame size are refused, as forward_cached refuses them.
  const auto m = random_tiny(torch::kFloat64);
  auto caches = m->make_caches(2, 4, 4, KVCacheSpec{6});
  const auto c = make_clip(torch::kFloat64);
  CHECK(contains(
      error_of([&] { m->commit_cached(frames(c.clean, 0, 2), c.clean_t.narrow(1, 0, 2), c.context, caches); }),
      "tokens per frame, the cache was made for"));
}

TEST_CASE("gradients reach exactly the trainable parameters, and none cross blocks through the state", "[hybrid]") {
  const auto teacher = random_tiny(torch::kFloat32);
  const auto student = model::make_hybrid_student(*teacher, ratio(0.5, true));
  randomize_hybrid(*student); // LoRA B != 0, so that A gets a gradient too
  const auto c = make_clip(torch::kFloat32);
  student->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2).square().mean().backward();
  int trainable = 0;
  for (const auto& p : student->named_parameters()) {
    INFO(p.key());
    if (p.value().requires_grad()) {
      ++trainable;
      REQUIRE(p.value().grad().defined());
      CHECK(p.value().grad().norm().item<double>() > 0);
    } else {
      CHECK_FALSE(p.value().grad().defined());
    }
  }
  CHECK(trainable == 18);
  for (const auto& p : teacher->parameters()) {
    CHECK_FALSE(p.grad().defined());
  }

  auto caches = student->make_caches(2, 4, 6, KVCacheSpec{6});
  const auto clean0 = frames(c.clean, 0, 2).clone().requires_grad_();
  student->forward_cached(clean0, c.clean_t.narrow(1, 0, 2), c.context, caches, true);
  const auto noisy1 = frames(c.noisy, 2, 2).clone().requires_grad_();
  student->forward_cached(noisy1, c.noisy_t.narrow(1, 2, 2), c.context, caches, false).sum().backward();
  CHECK(noisy1.grad().defined());
  CHECK_FALSE(clean0.grad().defined());
}

// Block 2's prediction written block by block from caches that keep their graph: blocks 0 and 1 are
// committed (through commit_cached and through forward_cached with write_cache), then block 2 reads. Under
// teacher forcing the same prediction sees the clean blocks 0 and 1 the same way.
torch::Tensor third_block_from_caches(const WanDiT& m, const Clip& c, std::vector<model::LayerCache>& caches) {
  for (auto& cache : caches) {
    cache.keep_graph();
  }
  m.commit_cached(frames(c.clean, 0, 2), c.clean_t.narrow(1, 0, 2), c.context, caches);
  m.forward_cached(frames(c.clean, 2, 2), c.clean_t.narrow(1, 2, 2), c.context, caches, true);
  return m.forward_cached(frames(c.noisy, 4, 2), c.noisy_t.narrow(1, 4, 2), c.context, caches, false);
}

TEST_CASE("caches that keep their graph carry teacher forcing's gradients to the blocks that wrote them", "[hybrid]") {
  torch::manual_seed(0);
  const auto teacher = random_tiny(torch::kFloat64);
  const auto student = model::make_hybrid_student(*teacher, ratio(0.5, true)); // a state and a KV cache
  randomize_hybrid(*student);
  auto c = make_clip(torch::kFloat64);
  c.clean.requires_grad_();
  const auto w = torch::randn({2, 16, 2, 4, 6}, torch::kFloat64);
  const auto trainable = [&] {
    std::vector<torch::Tensor> out{c.clean};
    for (const auto& p : student->parameters()) {
      if (p.requires_grad()) {
        out.push_back(p);
      }
    }
    return out;
  }();

  const auto forced =
      student->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2).narrow(2, 4, 2);
  const auto forced_grads = torch::autograd::grad({(forced * w).sum()}, trainable, {}, {}, /*allow_unused=*/true);
  auto caches = student->make_caches(2, 4, 6, KVCacheSpec{6});
  const auto cached = third_block_from_caches(*student, c, caches);
  CHECK(rel_err(cached, forced) < 1e-12);
  const auto cached_grads = torch::autograd::grad({(cached * w).sum()}, trainable, {}, {}, /*allow_unused=*/true);
  for (size_t i = 0; i < trainable.size(); ++i) {
    INFO("tensor " << i << " of " << trainable.size());
    REQUIRE(forced_grads[i].defined() == cached_grads[i].defined());
    if (forced_grads[i].defined()) {
      CHECK(rel_err(cached_grads[i], forced_grads[i]) < 1e-10);
    }
  }

  // A write's parameter (the decay's A_log) against central differences of the cached prediction.
  auto A_log = student->named_parameters()["blocks.0.self_attn.A_log"];
  const auto loss = [&] {
    auto again = student->make_caches(2, 4, 6, KVCacheSpec{6});
    return (third_block_from_caches(*student, c, again) * w).sum().item<double>();
  };
  const auto numeric = central_differences(loss, A_log);
  caches = student->make_caches(2, 4, 6, KVCacheSpec{6});
  const auto analytic = torch::autograd::grad({(third_block_from_caches(*student, c, caches) * w).sum()}, {A_log})[0];
  INFO("analytic " << analytic << ", numeric " << numeric);
  CHECK(analytic.abs().min().item<double>() > 1e-3);
  CHECK(rel_err(analytic, numeric) < 1e-5); // central differences' error: up to 5e-7 over 20 seeds

  // A clone is written without changing the caches it was copied from; by default no gradient reaches the
  // writes.
  auto snapshot = student->make_caches(2, 4, 6, KVCacheSpec{6});
  student->commit_cached(frames(c.clean, 0, 2), c.clean_t.narrow(1, 0, 2), c.context, snapshot);
  auto copies = snapshot;
  for (auto& copy : copies) {
    copy = copy.clone();
  }
  student->commit_cached(frames(c.clean, 2, 2), c.clean_t.narrow(1, 2, 2), c.context, copies);
  const auto read = [&](std::vector<model::LayerCache>& cs) {
    torch::NoGradGuard no_grad;
    return student->forward_cached(frames(c.noisy, 2, 2), c.noisy_t.narrow(1, 2, 2), c.context, cs, false);
  };
  CHECK(snapshot.front().frames_committed() == 2);
  CHECK(copies.front().frames_committed() == 4);
  auto replay = student->make_caches(2, 4, 6, KVCacheSpec{6});
  student->commit_cached(frames(c.clean, 0, 2), c.clean_t.narrow(1, 0, 2), c.context, replay);
  CHECK(torch::equal(read(snapshot), read(replay)));
  const auto detached =
      student->forward_cached(frames(c.noisy, 4, 2), c.noisy_t.narrow(1, 4, 2), c.context, copies, false);
  CHECK_FALSE(torch::autograd::grad({detached.sum()}, {A_log}, {}, {}, false, /*allow_unused=*/true)[0].defined());
}

TEST_CASE("hybrid diagnostics are opt-in and describe the last forward", "[hybrid]") {
  const auto m = random_tiny(torch::kFloat32);
  model::convert_to_hybrid(*m, ratio(1.0));
  const auto c = make_clip(torch::kFloat32);
  const auto layer = model::hybrid_layers(*m).at(0).second;
  m->forward_block_causal(c.noisy, c.noisy_t, c.context, 2);
  CHECK_FALSE(layer->diagnostics().has_value());

  layer->set_diagnostics(true);
  m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  REQUIRE(layer->diagnostics().has_value());
  const auto d = *layer->diagnostics();
  CHECK(d.intra_rms > 0);
  CHECK(d.gated_memory_rms > 0);
  CHECK(d.gate_mean > 0.3); // gate_proj starts small: gamma near 0.5
  CHECK(d.gate_mean < 0.7);
  CHECK(d.gate_saturation == 0);

  // One block: nothing to remember.
  m->forward_block_causal(c.noisy, c.noisy_t, c.context, 6);
  CHECK(layer->diagnostics()->gated_memory_rms == 0);
  // A saturated gate is counted.
  {
    torch::NoGradGuard no_grad;
    m->named_parameters()["blocks.0.self_attn.gate_proj.weight"].mul_(1e4);
  }
  m->forward_block_causal(c.noisy, c.noisy_t, c.context, 2);
  CHECK(layer->diagnostics()->gate_saturation > 0.5);
}

TEST_CASE("hybrid weights round-trip through safetensors under their names", "[hybrid]") {
  TempDir dir;
  const auto a = random_tiny(torch::kFloat32);
  model::convert_to_hybrid(*a, ratio(0.5, true));
  randomize_hybrid(*a);
  const auto path = dir.file("hybrid.safetensors");
  model::save_weights(*a, path);
  WanDiT b(model::model_preset("tiny"));
  model::convert_to_hybrid(b, ratio(0.5, true));
  model::load_weights(b, path);
  const auto c = make_clip(torch::kFloat32);
  CHECK(torch::equal(
      a->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2),
      b.forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2)));
  // A plain model does not take a hybrid's file: the new tensors are named.
  WanDiT plain(model::model_preset("tiny"));
  CHECK(contains(error_of([&] { model::load_weights(plain, path); }), "blocks.0.self_attn.A_log"));
}

TEST_CASE("merging the FFN adapters keeps the function and removes them; the memory path's stay", "[hybrid]") {
  const auto m = random_tiny(torch::kFloat64);
  model::convert_to_hybrid(*m, ratio(0.5, true));
  randomize_hybrid(*m); // B != 0: the adapters change the output
  const auto c = make_clip(torch::kFloat64);
  const auto before = m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  const auto generated = generate(*m, c, 2);
  model::merge_ffn_lora(*m);
  const double err = rel_err(m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), before);
  INFO("relative error after the merge " << err);
  CHECK(err < 1e-13);
  CHECK(rel_err(generate(*m, c, 2), generated) < 1e-13);
  const auto params = m->named_parameters();
  CHECK(params.find("blocks.0.ffn.0.lora_A") == nullptr);
  CHECK(params.find("blocks.0.ffn.2.lora_B") == nullptr);
  CHECK(params.find("blocks.0.self_attn.lora_q_A") != nullptr);
  CHECK(!m->blocks()[0]->ffn()->fc_in->lora());
  model::merge_ffn_lora(*m); // nothing left to merge
  CHECK(rel_err(m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), before) < 1e-13);
}

TEST_CASE("ffn_lora_all_layers adapts every layer's FFN; merging folds them all in", "[hybrid]") {
  const auto m = random_tiny(torch::kFloat64);
  auto options = ratio(0.5, true);
  options.ffn_lora_all_layers = true;
  model::convert_to_hybrid(*m, options);
  const auto params = m->named_parameters();
  for (const char* name : {"blocks.1.ffn.0.lora_A", "blocks.1.ffn.2.lora_B", "blocks.0.ffn.0.lora_A"}) {
    INFO(name);
    REQUIRE(params.find(name) != nullptr);
    CHECK(params[name].requires_grad());
  }
  CHECK(params.find("blocks.1.self_attn.lora_q_A") == nullptr); // layer 1 stays softmax
  CHECK(model::group_parameters(*m)[2].parameters.size() == 6 + 2 * 4);

  randomize_hybrid(*m);
  const auto c = make_clip(torch::kFloat64);
  const auto before = m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  model::merge_ffn_lora(*m);
  CHECK(rel_err(m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), before) < 1e-13);
  CHECK(!m->blocks()[1]->ffn()->fc_in->lora());
  CHECK(model::group_parameters(*m)[2].parameters.size() == 6);
}

TEST_CASE("the 1.3B preset at 75% with LoRA trains about 2% of its parameters", "[hybrid]") {
  WanDiT m(model::model_preset("wan2.1-t2v-1.3b"), torch::TensorOptions().device(torch::kMeta));
  CHECK(model::convert_to_hybrid(m, ratio(0.75, true)).size() == 22);
  // Per hybrid layer (dim 1536, 12 heads of 128, FFN 8960, rank 16): a/b/gate projections, A_log and
  // dt_bias, three phi maps; LoRA on q, k, v and on both FFN linears.
  const int64_t memory = 3 * 12 * 1536 + 2 * 12 + 3 * 12 * 128 * 128;
  const int64_t lora = 3 * 2 * 1536 * 16 + 2 * (1536 + 8960) * 16;
  const auto groups = model::group_parameters(m);
  CHECK(groups[0].numel() == 1418996800);
  CHECK(groups[1].numel() == 22 * memory);
  CHECK(groups[2].numel() == 22 * lora);
  const int64_t trainable = groups[1].trainable_numel() + groups[2].trainable_numel();
  CHECK(trainable == 24826384);
  const double share = static_cast<double>(trainable) / static_cast<double>(trainable + groups[0].numel());
  CHECK(share > 0.017);
  CHECK(share < 0.018);
}

TEST_CASE("stage 2 adds LoRA to a converted model, which computes as before", "[hybrid]") {
  const auto m = random_tiny(torch::kFloat64);
  model::convert_to_hybrid(*m, layers({0}));
  randomize_hybrid(*m);
  const auto c = make_clip(torch::kFloat64);
  const auto before = m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2);
  model::add_hybrid_lora(*m, {});
  const auto groups = model::group_parameters(*m);
  CHECK(groups[2].parameters.size() == 10);
  CHECK(groups[2].trainable_numel() == groups[2].numel());
  CHECK(groups[1].trainable_numel() == groups[1].numel()); // stage 1's parameters keep training
  CHECK(torch::equal(m->forward_teacher_forcing(c.noisy, c.noisy_t, c.clean, c.clean_t, c.context, 2), before));
  // A later conversion freezes the base only, not the earlier hybrid layers' parameters.
  model::convert_to_hybrid(*m, layers({1}));
  for (const auto& g : model::group_parameters(*m)) {
    INFO(g.name);
    CHECK(g.trainable_numel() == (g.name == "base" ? 0 : g.numel()));
  }
}

TEST_CASE("hybrid misuse gets errors naming the layer or the cause", "[hybrid][errors]") {
  const auto m = random_tiny(torch::kFloat32);
  model::convert_to_hybrid(*m, layers({0}));
  CHECK(contains(
      error_of([&] {
        model::convert_to_hybrid(*m, layers({0, 1}));
      }),
      "convert_to_hybrid: blocks.0.self_attn is already hybrid"));
  // The failed call converted nothing.
  CHECK(model::hybrid_layers(*m).size() == 1);
  const auto layer = model::hybrid_layers(*m).at(0).second;
  layer->add_lora({});
  CHECK(contains(error_of([&] { layer->add_lora({}); }), "LoRA was already added"));
  CHECK(contains(error_of([&] { m->blocks()[1]->ffn()->fc_in->add_lora({0, 32}); }), "rank (0) must be positive"));

  // Caches made before the conversion are of the wrong kind for the hybrid layer.
  const auto plain = random_tiny(torch::kFloat32);
  auto kv_caches = plain->make_caches(2, 4, 6, KVCacheSpec{6});
  const auto c = make_clip(torch::kFloat32);
  CHECK(contains(
      error_of(
          [&] { m->forward_cached(frames(c.noisy, 0, 2), c.noisy_t.narrow(1, 0, 2), c.context, kv_caches, false); }),
      "HybridAttention: ctx.cache holds a KV cache, this layer needs a recurrent state"));
  CHECK(contains(
      error_of([&] { m->forward_block_causal(c.noisy, c.noisy_t, c.context, 4); }),
      "ctx.frames_per_block (4) must divide the frames (6)"));
}

} // namespace
} // namespace arl2::test
