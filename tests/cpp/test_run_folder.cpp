// Run folders that no run can destroy (csrc/train/run_folder.h): train.out names a folder, a fresh run refuses
// a folder that holds a run unless it overwrites it, a second live writer is refused, temporary files of killed
// writes are removed, metrics continue after a resume; and the NaN stop of a diverging run names a checkpoint a
// run resumes from.
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "io/safetensors.h"
#include "model_test_util.h"
#include "train/run_folder.h"
#include "train/trainer.h"
#include "train/training_run.h"
#include "train_test_util.h"

namespace arl2::test {
namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

bool exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

// The steps metrics.jsonl logged, in order.
std::vector<int64_t> logged_steps(const std::string& run) {
  std::vector<int64_t> steps;
  std::ifstream metrics(run + "/metrics.jsonl");
  const std::regex step("\"step\":([0-9]+)");
  std::smatch m;
  for (std::string line; std::getline(metrics, line);) {
    REQUIRE(std::regex_search(line, m, step));
    steps.push_back(std::stoll(m[1]));
  }
  return steps;
}

// `trainer` to its config's train.steps in the run folder it names, opened for `start`.
void run(train::Trainer& trainer, train::RunStart start) {
  const train::RunFolder folder(trainer.config().train.out, start);
  std::FILE* progress = std::fopen("/dev/null", "w");
  train::run_training(trainer, &folder, progress);
  std::fclose(progress);
}

TEST_CASE("train.out must name a folder", "[train][run_folder]") {
  TempDir dir;
  write_text(dir.file("file"), "");
  CHECK(
      contains(error_of([] { train::RunFolder("", train::RunStart::kFresh); }), "train.out: empty; it names a folder"));
  CHECK(contains(
      error_of([&] { train::RunFolder(dir.file("file"), train::RunStart::kFresh); }),
      "train.out: '" + dir.file("file") + "' exists and is not a folder"));
}

TEST_CASE("a fresh run refuses a folder that holds a run; overwriting removes that run first", "[train][run_folder]") {
  TempDir dir;
  const auto out = dir.file("run");
  const auto checkpoint = train::checkpoint_path(out, 2);
  {
    const train::RunFolder folder(out, train::RunStart::kFresh);
    write_text(folder.config_path(), "train: {}\n");
    write_text(folder.metrics_path(), "{\"step\":1}\n");
    write_text(checkpoint, "");
  }
  CHECK(contains(
      error_of([&] { train::RunFolder(out, train::RunStart::kFresh); }),
      "train.out: '" + out + "' holds a run (3 files: " + out +
          "/config.yaml, ...); continue it with --resume "
          "CHECKPOINT, start afresh over it with --overwrite, or choose another train.out"));
  train::RunFolder(out, train::RunStart::kResume); // continues it
  CHECK(exists(checkpoint));

  // an input of the new run among the files overwriting removes: refused, nothing removed
  CHECK(contains(
      error_of([&] {
        train::RunFolder(out, train::RunStart::kOverwrite, {{"train.init_from", checkpoint}});
      }),
      "--overwrite: train.init_from ('" + checkpoint + "') is '" + checkpoint +
          "', a file of the run in train.out that overwriting removes"));
  CHECK(exists(checkpoint));

  train::RunFolder(out, train::RunStart::kOverwrite);
  CHECK(io::list_folder(out) == std::vector<std::string>{"checkpoints", "run.lock"});
  CHECK(io::list_folder(out + "/checkpoints").empty());
  CHECK(contains(error_of([] { train::run_start("step_2.safetensors", true); }), "ask for one of them"));
}

TEST_CASE("a second live writer of a run folder is refused, naming the pid that holds it", "[train][run_folder]") {
  TempDir dir;
  const auto out = dir.file("run");
  {
    const train::RunFolder first(out, train::RunStart::kFresh);
    CHECK(contains(
        error_of([&] { train::RunFolder(out, train::RunStart::kResume); }),
        "train.out: '" + out + "' is in use: another run (pid " + std::to_string(getpid()) +
            ") writes it; wait for it to end or choose another train.out"));
  }
  train::RunFolder(out, train::RunStart::kResume); // released with its holder
}

TEST_CASE("a run removes the temporary files of its own files' killed writes", "[train][run_folder]") {
  TempDir dir;
  const auto out = dir.file("run");
  train::RunFolder(out, train::RunStart::kFresh);
  // left by writers killed inside a write; pids that are not alive, and this process's own
  const auto own_pid = std::to_string(getpid());
  const std::vector<std::string> temps = {
      "/checkpoints/step_000002.safetensors.tmp.4194303",
      "/checkpoints/step_000004.safetensors.tmp." + own_pid,
      "/config.yaml.tmp.77",
      "/metrics.jsonl.tmp.78",
      "/hybrid.safetensors.tmp.79"};
  for (const auto& name : temps) {
    write_text(out + name, "");
  }
  train::RunFolder(out, train::RunStart::kResume);
  CHECK(io::list_folder(out + "/checkpoints").empty());
  // another file's temporary file is its writer's, which took no lock: left
  CHECK(io::list_folder(out) == std::vector<std::string>{"checkpoints", "hybrid.safetensors.tmp.79", "run.lock"});
}

TEST_CASE("metrics.jsonl keeps the steps up to the one a run resumes at", "[train][run_folder]") {
  TempDir dir;
  const auto out = dir.file("run");
  const train::RunFolder folder(out, train::RunStart::kResume);
  write_text(folder.metrics_path(), "{\"loss\":1,\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"step\":4}\n{\"st");
  folder.keep_metrics_through(2); // the line cut short by a kill goes too
  CHECK(logged_steps(out) == std::vector<int64_t>{1, 2});

  // a run resumed from its step-2 checkpoint logs steps 3 and 4 once
  TempDir data;
  write_clips(data, 1);
  auto config = tiny_config(1, data.path, "  checkpoint_every: 2\n  log_every: 1\n");
  config.train.steps = 4;
  config.train.out = dir.file("trained");
  train::Trainer first(config, "hash");
  run(first, train::RunStart::kFresh);
  CHECK(logged_steps(config.train.out) == std::vector<int64_t>{1, 2, 3, 4});
  train::Trainer resumed(config, "hash");
  resumed.resume(train::checkpoint_path(config.train.out, 2));
  run(resumed, train::RunStart::kResume);
  CHECK(logged_steps(config.train.out) == std::vector<int64_t>{1, 2, 3, 4});
}

TEST_CASE("the NaN stop of a diverging run names a finite checkpoint a run resumes from", "[train][run_folder]") {
  TempDir data, dir;
  write_clips(data, 1);
  // A learning rate far too large, no clipping: the parameters grow step by step until the loss overflows.
  auto config = tiny_config(1, data.path, "  checkpoint_every: 1\n  grad_clip: 0\n");
  config.train.lr = 30;
  config.train.warmup_steps = 0;
  config.train.out = dir.file("run");
  train::Trainer diverging(config, "hash");
  const auto message = error_of([&] { run(diverging, train::RunStart::kFresh); });
  INFO(message);
  std::smatch good;
  REQUIRE(std::regex_search(message, good, std::regex("last good checkpoint: (\\S+)")));
  const std::string checkpoint = good[1];
  REQUIRE(exists(checkpoint));
  const io::SafetensorsFile file(checkpoint);
  for (const auto& key : file.keys()) {
    INFO(key);
    CHECK(torch::isfinite(file.tensor(key)).all().item<bool>());
  }
  train::Trainer resumed(config, "hash");
  resumed.resume(checkpoint);
  CHECK(std::isfinite(resumed.step().loss));

  // the newer checkpoint, finite too, holds the parameters whose loss was not: named, and not good
  std::smatch bad;
  REQUIRE(std::regex_search(message, bad, std::regex("\n(\\S+) holds the parameters that gave it")));
  train::Trainer from_bad(config, "hash");
  from_bad.resume(bad[1]);
  CHECK(contains(error_of([&] { from_bad.step(); }), "the run stops before the optimizer step"));
}

} // namespace
} // namespace arl2::test
