// Values are checked where they enter: weights, checkpoints, clips and the trainer's init_from refuse NaN,
// Inf and integer tensors where floats are meant, naming the file and the tensor.
#include <functional>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "io/directories.h"
#include "io/safetensors.h"
#include "io/value_checks.h"
#include "model/weights.h"
#include "model_test_util.h"
#include "test_util.h"
#include "train/clip_dataset.h"
#include "train/trained_hybrid.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

// `model`'s parameters as a weights file, with `edit` applied to the one named `name` first.
void save_edited(
    const torch::nn::Module& model,
    const std::string& path,
    const std::string& name,
    const std::function<torch::Tensor(torch::Tensor)>& edit) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : model.named_parameters()) {
    tensors.emplace_back(p.key(), p.key() == name ? edit(p.value().detach().clone()) : p.value().detach());
  }
  io::save_safetensors(path, tensors);
}

TEST_CASE("check_finite_floats names the file, the tensor and the first bad value", "[io][values]") {
  io::check_finite_floats(torch::randn({3, 4}), "f", "t");
  auto t = torch::zeros({2, 5});
  t[1][2] = std::numeric_limits<float>::quiet_NaN();
  t[1][4] = std::numeric_limits<float>::infinity();
  CHECK(contains(
      error_of([&] { io::check_finite_floats(t, "w.safetensors", "blocks.0.w"); }),
      "w.safetensors: tensor 'blocks.0.w' holds 2 non-finite values (NaN or Inf) of 10, the first at flat index 7"));
  CHECK(contains(
      error_of([&] { io::check_finite_floats(torch::ones({2}, torch::kInt), "w.safetensors", "A_log"); }),
      "w.safetensors: tensor 'A_log' is Int, expected a floating-point tensor"));
}

TEST_CASE("weights with a NaN or an integer tensor are refused naming the tensor", "[io][values]") {
  TempDir dir;
  const auto model = random_tiny(torch::kFloat);
  const std::string name = model->named_parameters().begin()->key();
  save_edited(*model, dir.file("nan.safetensors"), name, [](torch::Tensor t) {
    t.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
    return t;
  });
  CHECK(contains(
      error_of([&] { model::load_weights(*random_tiny(torch::kFloat), dir.file("nan.safetensors")); }),
      "nan.safetensors: tensor '" + name + "' holds 1 non-finite value (NaN or Inf)"));
  save_edited(*model, dir.file("int.safetensors"), name, [](torch::Tensor t) { return t.to(torch::kInt); });
  CHECK(contains(
      error_of([&] { model::load_weights(*random_tiny(torch::kFloat), dir.file("int.safetensors")); }),
      "int.safetensors: tensor '" + name + "' is Int, expected a floating-point tensor"));
}

TEST_CASE("a clip with a NaN is refused when read; a shard with one is never written", "[train][data][values]") {
  TempDir dir;
  auto latents = torch::randn({2, 4, 16, 4, 4});
  latents[1][3][0][0][0] = std::numeric_limits<float>::infinity();
  io::save_safetensors(
      dir.file("bad.safetensors"), {{"latents", latents}, {"text_embeddings", torch::randn({2, 8, 32})}});
  const train::ClipDataset data(dir.path);
  CHECK(data.get(0).latents.size(0) == 4);
  CHECK(contains(error_of([&] { data.get(1); }), "bad.safetensors: tensor 'latents[1]' holds 1 non-finite value"));
  CHECK(contains(
      error_of([&] {
        train::save_clip_shard(dir.file("out.safetensors"), latents, torch::randn({2, 8, 32}));
      }),
      "out.safetensors: tensor 'latents' holds 1 non-finite value"));
  CHECK(io::list_folder(dir.path) == std::vector<std::string>{"bad.safetensors"});
}

TEST_CASE("init_from refuses a checkpoint that lacks a trainable parameter or holds a NaN", "[train][values]") {
  TempDir data, dir;
  write_clips(data, 1);
  const auto checkpoint = dir.file("stage1.safetensors");
  {
    train::Trainer trainer(tiny_config(1, data.path), "hash");
    trainer.step();
    trainer.save_checkpoint(checkpoint);
  }
  // stage 2 from stage 1: the LoRA adapters it adds start fresh, everything else must be there
  auto from_stage1 = tiny_config(2, data.path);
  from_stage1.train.init_from = checkpoint;
  train::Trainer ok(from_stage1, "hash");

  const io::SafetensorsFile file(checkpoint);
  std::vector<std::pair<std::string, torch::Tensor>> kept;
  std::string dropped;
  for (const auto& key : file.keys()) {
    if (dropped.empty() && key.rfind("param.", 0) == 0) {
      dropped = key;
      continue;
    }
    kept.emplace_back(key, file.tensor(key));
  }
  io::save_safetensors(dir.file("short.safetensors"), kept, file.metadata());
  auto from_short = from_stage1;
  from_short.train.init_from = dir.file("short.safetensors");
  CHECK(contains(
      error_of([&] { train::Trainer(from_short, "hash"); }),
      "(a stage-1 checkpoint) has no '" + dropped + "', a trainable parameter of this stage-2 run"));

  kept.emplace_back(dropped, torch::full_like(file.tensor(dropped), std::numeric_limits<float>::quiet_NaN()));
  io::save_safetensors(dir.file("nan.safetensors"), kept, file.metadata());
  auto from_nan = from_stage1;
  from_nan.train.init_from = dir.file("nan.safetensors");
  CHECK(contains(error_of([&] { train::Trainer(from_nan, "hash"); }), "tensor '" + dropped + "' holds"));
  // nor does an export or a generation from it
  CHECK(contains(
      error_of([&] {
        train::export_merged(
            tiny_config(1, data.path), dir.file("nan.safetensors"), train::TrainedWeights::kRaw, dir.file("out"));
      }),
      "nan.safetensors: tensor '" + dropped + "' holds"));
}

} // namespace
} // namespace arl2::test
