// A hybrid checkpoint's reference to its base weights: the file fingerprint (io/file_fingerprint.h) tells
// files apart and survives a move, and a checkpoint loaded over other base weights is refused, naming
// both files.
#include <fstream>
#include <string>

#include <torch/torch.h>

#include "catch.h"
#include "io/file_fingerprint.h"
#include "model_test_util.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST_CASE("file fingerprints: size, header and sampled chunks", "[train][checkpoint]") {
  TempDir dir;
  // 20 MiB: past the 1 MiB head and 256 chunks of 64 KiB, so the chunks are sampled.
  std::string bytes(20 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  write_bytes(dir.file("a"), bytes);
  write_bytes(dir.file("copy"), bytes);
  const auto a = io::file_fingerprint(dir.file("a"));
  CHECK(a.rfind("v1:20971520:", 0) == 0);
  CHECK(io::file_fingerprint(dir.file("copy")) == a);

  auto last_byte = bytes;
  last_byte.back() ^= 1;
  write_bytes(dir.file("last"), last_byte);
  CHECK(io::file_fingerprint(dir.file("last")) != a);
  auto header = bytes;
  header[100] ^= 1;
  write_bytes(dir.file("header"), header);
  CHECK(io::file_fingerprint(dir.file("header")) != a);
  write_bytes(dir.file("longer"), bytes + "x");
  CHECK(io::file_fingerprint(dir.file("longer")) != a);
  CHECK(contains(error_of([&] { io::file_fingerprint(dir.file("none")); }), "cannot open '" + dir.file("none")));
}

TEST_CASE("a checkpoint loads over its own base weights only", "[train][checkpoint]") {
  TempDir data, dir;
  write_clips(data, 1);
  torch::manual_seed(1);
  model::save_weights(*random_tiny(torch::kFloat), dir.file("base.safetensors"));
  model::save_weights(*random_tiny(torch::kFloat), dir.file("other.safetensors"));
  const auto config_on = [&](const std::string& base) {
    auto c = tiny_config(2, data.path);
    c.inference.checkpoint = base;
    return c;
  };
  const auto checkpoint = dir.file("step_1.safetensors");
  {
    train::Trainer trainer(config_on(dir.file("base.safetensors")), "hash");
    trainer.step();
    trainer.save_checkpoint(checkpoint);
  }
  // the same bytes elsewhere: a moved base is still the base
  std::ifstream in(dir.file("base.safetensors"), std::ios::binary);
  std::ofstream(dir.file("moved.safetensors"), std::ios::binary) << in.rdbuf();
  train::Trainer moved(config_on(dir.file("moved.safetensors")), "hash");
  moved.resume(checkpoint);
  CHECK(moved.steps_done() == 1);

  train::Trainer other(config_on(dir.file("other.safetensors")), "hash");
  const auto message = error_of([&] { other.resume(checkpoint); });
  CHECK(contains(message, "'" + checkpoint + "' was trained on the base weights '" + dir.file("base.safetensors")));
  CHECK(contains(message, "not on '" + dir.file("other.safetensors") + "' (v1:"));
  CHECK(contains(message, "a different file"));

  train::Trainer random(config_on(""), "hash");
  CHECK(contains(error_of([&] { random.resume(checkpoint); }), "not on random weights (random:seed=5:float:cpu)"));
}

} // namespace
} // namespace arl2::test
