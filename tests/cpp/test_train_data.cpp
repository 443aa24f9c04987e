// Training data: clips read back across safetensors shards, shards that do not fit named, and the
// sharded sampler (permutation per epoch, disjoint rank shares, exact resume).
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "catch.h"
#include "io/safetensors.h"
#include "model_test_util.h"
#include "train/clip_dataset.h"
#include "train/sampler.h"

namespace arl2::test {
namespace {

void write_shard(TempDir& dir, const std::string& name, const torch::Tensor& latents, const torch::Tensor& text) {
  io::save_safetensors(dir.file(name), {{"latents", latents}, {"text_embeddings", text}});
}

TEST_CASE("clips are numbered across shards in name order", "[train][data]") {
  TempDir dir;
  const auto l0 = torch::randn({3, 6, 4, 2, 3}), t0 = torch::randn({3, 5, 8});
  const auto l1 = torch::randn({2, 6, 4, 2, 3}).to(torch::kBFloat16), t1 = torch::randn({2, 5, 8});
  write_shard(dir, "b.safetensors", l1, t1);
  write_shard(dir, "a.safetensors", l0, t0);
  const train::ClipDataset data(dir.path);
  REQUIRE(data.size() == 5);
  CHECK(data.clip_shape() == std::vector<int64_t>{6, 4, 2, 3});
  CHECK(data.text_shape() == std::vector<int64_t>{5, 8});
  CHECK(torch::equal(data.get(2).latents, l0[2]));
  CHECK(torch::equal(data.get(3).latents, l1[0].to(torch::kFloat)));
  CHECK(torch::equal(data.get(4).text_embeddings, t1[1]));
  data.get(0).latents.add_(1); // a copy, not a view of the read-only mapping
}

TEST_CASE("a written shard carries extra tensors, which the dataset ignores", "[train][data]") {
  TempDir dir;
  const auto latents = torch::randn({2, 4, 3, 2, 2}), text = torch::randn({2, 5, 8});
  const auto ids = torch::arange(10).reshape({2, 5});
  const auto path = train::shard_path(dir.path, 3);
  CHECK(path == dir.path + "/shard_00003.safetensors");
  train::save_clip_shard(path, latents, text, {{"source", "test"}}, {{"token_ids", ids}});
  const io::SafetensorsFile shard(path);
  CHECK(torch::equal(shard.tensor("token_ids"), ids));
  CHECK(shard.metadata().at("source") == "test");
  const train::ClipDataset data(dir.path);
  CHECK(torch::equal(data.get(1).latents, latents[1]));
  CHECK(torch::equal(data.get(1).text_embeddings, text[1]));
}

TEST_CASE("shards that do not fit are named", "[train][data][errors]") {
  auto message = [](const std::string& folder) -> std::string {
    try {
      train::ClipDataset data(folder);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  TempDir empty;
  CHECK(contains(message(empty.path), "data.path: no .safetensors shards in"));
  CHECK(contains(message(empty.path + "/missing"), "data.path: cannot open the folder"));

  TempDir no_text;
  io::save_safetensors(no_text.file("s.safetensors"), {{"latents", torch::zeros({1, 1, 1, 1, 1})}});
  CHECK(contains(message(no_text.path), "s.safetensors: no 'text_embeddings' tensor"));

  TempDir counts;
  write_shard(counts, "s.safetensors", torch::zeros({2, 1, 1, 1, 1}), torch::zeros({3, 1, 1}));
  CHECK(contains(message(counts.path), "'text_embeddings' holds 3 clips but 'latents' holds 2"));

  TempDir shapes;
  write_shard(shapes, "a.safetensors", torch::zeros({1, 3, 1, 1, 1}), torch::zeros({1, 1, 1}));
  write_shard(shapes, "b.safetensors", torch::zeros({1, 6, 1, 1, 1}), torch::zeros({1, 1, 1}));
  CHECK(contains(message(shapes.path), "b.safetensors: clips [6, 1, 1, 1] and texts [1, 1] differ"));
}

TEST_CASE("each epoch is a permutation shared out to the ranks", "[train][data]") {
  const int64_t n = 11, world = 3;
  std::vector<train::ShardedSampler> ranks;
  for (int64_t r = 0; r < world; ++r)
    ranks.emplace_back(n, 42, r, world);
  REQUIRE(ranks[0].per_rank() == 3); // 11 / 3: two clips left out of each epoch
  std::vector<std::vector<int64_t>> epochs(2);
  for (auto& epoch : epochs)
    for (int64_t i = 0; i < 3; ++i)
      for (auto& r : ranks)
        epoch.push_back(r.next());
  for (const auto& epoch : epochs) {
    CHECK(std::set<int64_t>(epoch.begin(), epoch.end()).size() == epoch.size()); // no clip twice
    for (const int64_t i : epoch)
      CHECK((i >= 0 && i < n));
  }
  CHECK(epochs[0] != epochs[1]);
  CHECK(ranks[0].position().epoch == 1);

  train::ShardedSampler again(n, 42, 1, world); // the same seed gives the same order
  CHECK(again.next() == epochs[0][1]);
  train::ShardedSampler seed42(n, 42, 0, 1), seed43(n, 43, 0, 1); // another seed, another order
  std::vector<int64_t> a, b;
  for (int64_t i = 0; i < n; ++i) {
    a.push_back(seed42.next());
    b.push_back(seed43.next());
  }
  CHECK(a != b);
}

TEST_CASE("a sampler resumes exactly from its position", "[train][data]") {
  train::ShardedSampler run(20, 7, 1, 2);
  std::vector<int64_t> straight;
  train::SamplerPosition saved;
  for (int i = 0; i < 25; ++i) {
    if (i == 13)
      saved = run.position();
    straight.push_back(run.next());
  }
  train::ShardedSampler resumed(20, 7, 1, 2);
  resumed.set_position(saved);
  for (int i = 13; i < 25; ++i)
    CHECK(resumed.next() == straight[i]);
}

} // namespace
} // namespace arl2::test
