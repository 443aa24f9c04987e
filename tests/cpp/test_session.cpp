// Tests of generation sessions (csrc/inference/session.h) on the tiny model, CPU: a session makes what a run of
// the same seed makes, save -> load -> continue equals a session that never stopped bit for bit (teacher, hybrids,
// guidance, a prompt switch, windows past eviction), a fork continues on its own, a prompt switch changes what
// follows and a re-cache under the same prompt changes nothing, memory stays flat, and bad input fails before any
// work.
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "generator_test_util.h"
#include "inference/generator.h"
#include "inference/session.h"
#include "io/safetensors.h"
#include "model_test_util.h"

namespace arl2::test {
namespace {

using inference::ARGenerator;
using inference::GeneratorOptions;
using inference::Session;

// A 6-frame window with 2 sink frames: from the fourth block on, blocks evict.
GeneratorOptions windowed_options() {
  auto o = tiny_options();
  o.kv = {6, 2};
  return o;
}

std::vector<torch::Tensor> next_blocks(Session& session, int64_t n) {
  std::vector<torch::Tensor> blocks;
  for (int64_t i = 0; i < n; ++i) {
    blocks.push_back(session.next().latents);
  }
  return blocks;
}

struct Case {
  double ratio;
  double guidance;
};

} // namespace

TEST_CASE("a session makes the blocks a run of the same seed makes", "[session]") {
  const auto text = torch::randn({2, 5, 32});
  for (const double ratio : {0.0, 0.5, 1.0}) {
    CAPTURE(ratio);
    const ARGenerator generator(tiny_model(torch::kFloat32, ratio), windowed_options());
    const auto whole = generator.generate(text, 10, 4);
    Session session(generator, text, 4);
    for (int64_t b = 0; b < 5; ++b) {
      const auto block = session.next();
      CHECK(block.index == b);
      CHECK(block.num_blocks == -1);
      CHECK(block.first_frame == 2 * b);
      CHECK(torch::equal(block.latents, whole.narrow(2, 2 * b, 2)));
    }
    CHECK(session.frames_done() == 10);
    CHECK(session.blocks_done() == 5);
  }
}

TEST_CASE("save, load and continue equals a session that never stopped, bit for bit", "[session]") {
  const auto text = torch::randn({2, 5, 32});
  const auto other = torch::randn({2, 7, 32});
  for (const Case c : {Case{0.0, 1.0}, Case{0.5, 1.0}, Case{1.0, 1.0}, Case{0.5, 3.0}}) {
    CAPTURE(c.ratio, c.guidance);
    auto o = windowed_options();
    o.guidance_scale = c.guidance;
    const ARGenerator generator(tiny_model(torch::kFloat32, c.ratio), o);
    const TempDir dir;
    // Through a prompt switch, and past the windows' first evictions (block 3 on).
    Session whole(generator, text, 9);
    next_blocks(whole, 2);
    whole.set_prompt(other);
    next_blocks(whole, 2);
    const auto expected = next_blocks(whole, 3);

    Session stopped(generator, text, 9);
    next_blocks(stopped, 2);
    stopped.set_prompt(other);
    next_blocks(stopped, 2);
    stopped.save(dir.file("state.safetensors"));
    auto loaded = Session::load(generator, dir.file("state.safetensors"));
    CHECK(loaded.blocks_done() == 4);
    CHECK(loaded.frames_done() == 8);
    CHECK(torch::equal(loaded.prompt(), other));
    CHECK(all_equal(next_blocks(loaded, 3), expected));
    CHECK(dir.listing() == std::vector<std::string>{"state.safetensors"}); // no temporary file left
  }
}

TEST_CASE("a fork continues on its own", "[session]") {
  const auto text = torch::randn({1, 5, 32});
  const ARGenerator generator(tiny_model(torch::kFloat32, 0.5), windowed_options());
  Session whole(generator, text, 2);
  next_blocks(whole, 2);
  const auto expected = next_blocks(whole, 3);

  Session session(generator, text, 2);
  next_blocks(session, 2);
  auto fork = session.fork();
  fork.set_prompt(torch::randn({1, 5, 32}));
  const auto forked = next_blocks(fork, 3); // writes its own caches and draws from its own generator
  CHECK(all_equal(next_blocks(session, 3), expected));
  CHECK(!torch::equal(forked.back(), expected.back()));

  // Under the same prompt a fork makes what its original makes.
  Session original(generator, text, 2);
  next_blocks(original, 2);
  auto twin = original.fork();
  CHECK(all_equal(next_blocks(twin, 3), expected));
}

TEST_CASE("a prompt switch changes what follows; a re-cache under the same prompt changes nothing", "[session]") {
  const auto text = torch::randn({1, 5, 32});
  for (const double ratio : {0.0, 0.5, 1.0}) {
    CAPTURE(ratio);
    // A window that holds all six frames: a teacher's re-cache then repeats the very passes that filled it.
    auto o = tiny_options();
    o.kv = {8, 0};
    const ARGenerator generator(tiny_model(torch::kFloat32, ratio), o);
    Session plain(generator, text, 3);
    next_blocks(plain, 3);
    const auto expected = plain.next().latents;

    for (const bool recache : {false, true}) {
      CAPTURE(recache);
      Session same(generator, text, 3);
      next_blocks(same, 3);
      same.set_prompt(text.clone(), recache);
      const auto again = same.next().latents;
      if (recache && ratio > 0.0 && ratio < 1.0) {
        // The hybrid layers read their states after all three blocks while the softmax layers' keys and values
        // are made again: close to, not equal to, the passes that first made them.
        CHECK(!torch::equal(again, expected));
      } else {
        CHECK(torch::equal(again, expected));
      }

      Session switched(generator, text, 3);
      next_blocks(switched, 3);
      switched.set_prompt(torch::randn({1, 5, 32}), recache);
      CHECK(switched.frames_done() == 6);
      CHECK(!torch::equal(switched.next().latents, expected));
    }
  }
}

TEST_CASE("a re-cache keeps the recurrent states and the windows' frames", "[session]") {
  const ARGenerator generator(tiny_model(torch::kFloat32, 0.5), windowed_options());
  Session session(generator, torch::randn({1, 5, 32}), 1);
  next_blocks(session, 5); // 10 frames: the windows hold frames 0-1 (sink) and 6-9
  std::vector<torch::Tensor> states;
  std::vector<int64_t> held;
  for (const auto& cache : session.run().caches()) {
    if (const auto* state = cache.as_recurrent_state()) {
      states.push_back(state->state().clone());
    } else {
      held.push_back(cache.as_kv_cache()->tokens_held());
    }
  }
  session.set_prompt(torch::randn({1, 5, 32}), /*recache=*/true);
  size_t s = 0, k = 0;
  for (const auto& cache : session.run().caches()) {
    CHECK(cache.frames_committed() == 10);
    if (const auto* state = cache.as_recurrent_state()) {
      CHECK(torch::equal(state->state(), states[s++]));
    } else {
      CHECK(cache.as_kv_cache()->tokens_held() == held[k++]);
    }
  }
  CHECK(held.front() == 6 * 6);
  CHECK(torch::isfinite(session.next().latents).all().item<bool>());
}

TEST_CASE("a session's memory stays flat", "[session]") {
  const auto text = torch::randn({1, 5, 32});
  for (const double ratio : {0.0, 0.5, 1.0}) {
    CAPTURE(ratio);
    Session session(ARGenerator(tiny_model(torch::kFloat32, ratio), windowed_options()), text, 0);
    next_blocks(session, 1);
    const auto bytes = session.cache_bytes();
    next_blocks(session, 12);
    CHECK(session.cache_bytes() == bytes);
    const TempDir dir;
    session.save(dir.file("a.safetensors"));
    next_blocks(session, 12);
    session.save(dir.file("b.safetensors"));
    const io::SafetensorsFile a(dir.file("a.safetensors")), b(dir.file("b.safetensors"));
    CHECK(a.keys() == b.keys());
    for (const auto& key : a.keys()) {
      CHECK(a.info(key).shape == b.info(key).shape); // the saved state does not grow either
    }
  }
}

TEST_CASE("bad input to a session fails with a clear message before any work", "[session]") {
  const auto text = torch::randn({1, 5, 32});
  const auto teacher = tiny_model(torch::kFloat32, 0.0);
  CHECK(contains(
      error_of([&] { Session(ARGenerator(teacher, tiny_options()), text, 0); }),
      "the model's 2 softmax layers keep keys and values that grow with the video, and a session has no end: set "
      "inference.kv_window_frames"));
  const auto hybrid = tiny_model(torch::kFloat32, 0.5);
  const ARGenerator generator(hybrid, windowed_options());
  CHECK(contains(error_of([&] { Session(generator, torch::randn({1, 9, 32}), 0); }), "got [1, 9, 32]"));

  Session session(generator, text, 0);
  next_blocks(session, 2);
  CHECK(contains(
      error_of([&] {
        session.set_prompt(torch::randn({2, 5, 32}));
      }),
      "set_prompt: text must hold one prompt for each of the run's 1 videos"));
  CHECK(contains(error_of([&] { session.set_prompt(torch::randn({1, 5, 16})); }), "text embeddings must be"));

  const TempDir dir;
  const auto path = dir.file("state.safetensors");
  CHECK(contains(error_of([&] { session.save(dir.file("missing/state.safetensors")); }), "missing/state.safetensors"));
  CHECK(dir.listing().empty()); // a failed save leaves nothing
  session.save(path);

  auto o = windowed_options();
  o.kv = {8, 2};
  CHECK(contains(
      error_of([&] { Session::load(ARGenerator(hybrid, o), path); }),
      "the session was saved with inference.kv_window_frames = 6, this generator has 8"));
  o = windowed_options();
  o.cuda_graphs = false; // how a block runs, not what it makes
  CHECK(Session::load(ARGenerator(hybrid, o), path).frames_done() == 4);
  CHECK(contains(
      error_of([&] { Session::load(ARGenerator(tiny_model(torch::kFloat32, 0.5), windowed_options()), path); }),
      "the session was saved from other weights"));
  CHECK(contains(
      error_of([&] { Session::load(ARGenerator(tiny_model(torch::kFloat32, 1.0), windowed_options()), path); }),
      "the session was saved from a model whose layers are"));
  auto in_double = tiny_model(torch::kFloat64, 0.0);
  model::HybridOptions h;
  h.ratio = 0.5;
  model::convert_to_hybrid(*in_double, h);
  CHECK(contains(
      error_of([&] { Session::load(ARGenerator(in_double, windowed_options()), path); }),
      "the session was saved from a model of dtype Float, this model's is Double"));

  model::save_weights(*hybrid, dir.file("weights.safetensors"));
  CHECK(contains(
      error_of([&] { Session::load(generator, dir.file("weights.safetensors")); }),
      "not a saved session: its metadata has no 'format'"));
  {
    std::ofstream truncated(dir.file("truncated.safetensors"), std::ios::binary);
    std::ifstream whole(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
    truncated << bytes.substr(0, bytes.size() / 2);
  }
  CHECK(contains(error_of([&] { Session::load(generator, dir.file("truncated.safetensors")); }), "truncated"));
}

} // namespace arl2::test
