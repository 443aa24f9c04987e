// `arl2 bench train`: the time and memory of training steps, and where the time goes, for the config's
// model at its own dimensions with random weights (inference.checkpoint is cleared) and random clips of
// --latent-frames at the inference section's latent size (train.batch_size clips per micro-batch). It
// runs --warmup steps, then --steps steps timed phase by phase (train/phase_timer.h: the device is waited
// for between phases), and prints the median step time, each phase's median and share, the throughput in
// clips per second and the peak device memory; --json writes the same atomically.
//
// Under torchrun it measures data-parallel training: every rank draws the same clips (one per micro-batch
// of every rank: the world's global batch), rank 0 reports, and the JSON adds each rank's peak memory and a
// fingerprint of each rank's trainable parameters after the steps, which must agree. --save-trainable
// writes each rank's parameters for a closer comparison (scripts/bench_scaling.py compares them with a
// single GPU's run over the same global batch, train.grad_accumulation = N).
//
// The stage-2 step of Wan-1.3B on an H200 (21 latent frames, 7 blocks of 3 at 60 x 104, batch 1, bf16,
// activation checkpointing), in one device call of about 6-8 minutes, most of it the build:
//   export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ CC=/usr/bin/gcc
//   cmake -S . -B build/device -G Ninja -DARL2_CUDA=ON -DARL2_CUDA_ARCHITECTURES=90 -DPython3_EXECUTABLE=python3
//   cmake --build build/device -j 16 --target arl2
//   build/device/csrc/arl2 bench train --config configs/wan2.1-1.3b-train-stage2.yaml --json $OUT/bench_train.json
// On the CPU with the tiny model (the ctest case):
//   build/csrc/arl2 bench train --config configs/tiny-train-stage2.yaml --latent-frames 4 --warmup 1 --steps 2
// Stage 3 makes its rollouts every train.rollout_refresh_steps steps, whose time the rollout phase shows; with
// --set train.rollout_refresh_steps=1 --set train.checkpoint_every=1 every step makes them, so that the medians
// split a step into its rollouts and its training, e.g. for the toy domain's stage 3 on the CPU:
//   build/csrc/arl2 bench train --config configs/toy-stage3.yaml --latent-frames 16 --warmup 1 --steps 3 \
//       --set train.rollout_refresh_steps=1 --set train.checkpoint_every=1
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config/config.h"
#include "inference/device_memory.h"
#include "io/atomic_file.h"
#include "io/directories.h"
#include "io/safetensors.h"
#include "torchrun_launch.h"
#include "train/clip_dataset.h"
#include "train/trainer.h"

namespace arl2::cli {
namespace {

struct BenchTrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  int64_t latent_frames = 21;
  int64_t warmup = 2;
  int64_t steps = 5;
  std::string json_path;
  std::string save_trainable_dir;
  double dist_timeout_s = 600;
};

// A folder holding one shard of `count` random clips that fit `config`, the same in every process; removed
// with the object.
class RandomClips {
 public:
  RandomClips(const config::Config& config, int64_t latent_frames, int64_t count) {
    std::string dir = "/tmp/arl2_bench_train_XXXXXX";
    TORCH_CHECK(mkdtemp(dir.data()) != nullptr, "cannot create a temporary folder for the clips");
    dir_ = dir;
    const auto& m = config.model;
    const auto& g = config.inference.generator;
    auto rng = at::make_generator<at::CPUGeneratorImpl>(config.train.seed);
    const auto latents =
        at::randn({count, latent_frames, m.in_dim, g.latent_height, g.latent_width}, rng).to(at::kBFloat16);
    const auto text = at::randn({count, m.text_len, m.text_dim}, rng).to(at::kBFloat16);
    train::save_clip_shard(shard(), latents, text);
  }
  ~RandomClips() {
    unlink(shard().c_str());
    rmdir(dir_.c_str());
  }
  const std::string& dir() const {
    return dir_;
  }

 private:
  std::string shard() const {
    return dir_ + "/clips.safetensors";
  }
  std::string dir_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Each rank's `value` at its rank's index, through an all-reduce sum: what the collectives the group offers
// can gather.
std::vector<double> gather_per_rank(
    const dist::Group& group, const at::Device& device, const std::vector<double>& value) {
  const int64_t n = static_cast<int64_t>(value.size());
  auto all = at::zeros({group.size(), n}, at::TensorOptions().dtype(at::kDouble));
  all[group.rank()].copy_(at::tensor(value, at::TensorOptions().dtype(at::kDouble)));
  all = all.to(device);
  group.all_reduce({all}, dist::Reduction::kSum);
  all = all.cpu().contiguous();
  return {all.data_ptr<double>(), all.data_ptr<double>() + all.numel()};
}

// The sum and the sum of squares of every trainable value, in float64: equal on two ranks only if their
// parameters are (up to a coincidence no training step makes).
std::vector<double> fingerprint(const std::vector<std::pair<std::string, at::Tensor>>& trainable) {
  double sum = 0, squares = 0;
  for (const auto& [name, p] : trainable) {
    const auto d = p.detach().to(at::kDouble);
    sum += d.sum().item<double>();
    squares += d.square().sum().item<double>();
  }
  return {sum, squares};
}

int run_bench_train(const BenchTrainArgs& args) {
  TORCH_CHECK(args.warmup >= 0, "--warmup: expected a number >= 0, got ", args.warmup);
  TORCH_CHECK(args.steps > 0, "--steps: expected a positive number, got ", args.steps);
  auto config = config::load_config(args.config_path, args.overrides);
  config.inference.checkpoint.clear();
  config.train.init_from.clear();
  config.train.steps = args.warmup + args.steps;
  config.train.warmup_steps = std::min(config.train.warmup_steps, config.train.steps);
  auto launch = launch_rank(config, args.dist_timeout_s);
  const int64_t world = launch.group.size(), rank = launch.group.rank();
  const bool speaks = rank == 0;
  const int64_t clips_per_step = world * config.train.grad_accumulation * config.train.batch_size;
  const RandomClips clips(config, args.latent_frames, clips_per_step);
  launch.config.data.path = clips.dir();

  const at::Device device(launch.config.train.device);
  inference::reset_peak_device_bytes(device);
  train::Trainer trainer(launch.config, config::config_hash(config), std::move(launch.group));
  const int64_t trainable = trainer.trainable_numel();
  if (speaks) {
    std::fprintf(
        stderr,
        "stage %lld, %lld layers (%zu hybrid), %lld trainable parameters, %s on %s, %lld latent frames of %lld x "
        "%lld, batch %lld x %lld accumulated x %lld rank(s), activation checkpointing %s\n",
        static_cast<long long>(config.train.stage),
        static_cast<long long>(config.model.num_layers),
        model::hybrid_layers(trainer.student()).size(),
        static_cast<long long>(trainable),
        config.train.dtype.c_str(),
        config.train.device.c_str(),
        static_cast<long long>(args.latent_frames),
        static_cast<long long>(config.inference.generator.latent_height),
        static_cast<long long>(config.inference.generator.latent_width),
        static_cast<long long>(config.train.batch_size),
        static_cast<long long>(config.train.grad_accumulation),
        static_cast<long long>(world),
        config.train.activation_checkpointing ? "on" : "off");
  }
  for (int64_t i = 0; i < args.warmup; ++i) {
    trainer.step();
    if (speaks) {
      std::fprintf(
          stderr, "warm-up step %lld/%lld done\n", static_cast<long long>(i + 1), static_cast<long long>(args.warmup));
    }
  }
  trainer.set_phase_timing(true);
  std::vector<double> step_ms;
  std::vector<std::pair<const char*, std::vector<double>>> phases = {
      {"rollout", {}},
      {"data", {}},
      {"teacher forward", {}},
      {"student forward", {}},
      {"backward", {}},
      {"all-reduce", {}},
      {"optimizer", {}}};
  for (int64_t i = 0; i < args.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = trainer.step(); // the optimizer phase's mark waits for the device
    step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    const double values[] = {
        r.phases.rollout_ms,
        r.phases.data_ms,
        r.phases.teacher_forward_ms,
        r.phases.student_forward_ms,
        r.phases.backward_ms,
        r.phases.all_reduce_ms,
        r.phases.optimizer_ms};
    for (size_t k = 0; k < phases.size(); ++k) {
      phases[k].second.push_back(values[k]);
    }
    if (speaks) {
      std::fprintf(
          stderr,
          "step %lld/%lld: %.1f ms, loss %.4g\n",
          static_cast<long long>(i + 1),
          static_cast<long long>(args.steps),
          step_ms.back(),
          r.loss);
    }
  }
  const auto peak = inference::peak_device_bytes(device);
  const auto peaks = gather_per_rank(trainer.group(), device, {peak ? static_cast<double>(*peak) : -1.0});
  const auto fingerprints = gather_per_rank(trainer.group(), device, fingerprint(trainer.trainable()));
  bool ranks_agree = true;
  for (int64_t r = 1; r < world; ++r) {
    ranks_agree = ranks_agree && fingerprints[2 * r] == fingerprints[0] && fingerprints[2 * r + 1] == fingerprints[1];
  }
  if (!args.save_trainable_dir.empty()) {
    io::make_directories(args.save_trainable_dir, "--save-trainable");
    io::save_safetensors(
        args.save_trainable_dir + "/trainable.rank" + std::to_string(rank) + ".safetensors", trainer.trainable());
  }
  if (!speaks) {
    return 0;
  }

  const double step_median = median(step_ms);
  const double clips_per_s = static_cast<double>(clips_per_step) / (step_median / 1000);
  std::printf("%-16s %12s %7s\n", "phase", "median ms", "share");
  nlohmann::json phase_json = nlohmann::json::object();
  for (const auto& [name, values] : phases) {
    const double m = median(values);
    std::printf("%-16s %12.1f %6.1f%%\n", name, m, 100 * m / step_median);
    phase_json[name] = {{"median_ms", m}, {"ms", values}};
  }
  std::printf("%-16s %12.1f\n", "step", step_median);
  std::printf("throughput: %.3f clips/s (%lld clips a step)\n", clips_per_s, static_cast<long long>(clips_per_step));
  std::printf(
      "peak device memory: %s\n", peak ? (std::to_string(*peak / 1e9) + " GB").c_str() : "not measured on this device");
  if (world > 1) {
    std::printf("trainable parameters after the steps: %s on every rank\n", ranks_agree ? "the same" : "NOT the same");
  }

  if (!args.json_path.empty()) {
    nlohmann::json per_rank = nlohmann::json::array();
    for (int64_t r = 0; r < world; ++r) {
      per_rank.push_back(
          {{"rank", r},
           {"peak_device_bytes", peaks[r] < 0 ? nlohmann::json(nullptr) : nlohmann::json(peaks[r])},
           {"trainable_sum", fingerprints[2 * r]},
           {"trainable_sum_of_squares", fingerprints[2 * r + 1]}});
    }
    nlohmann::json out = {
        {"config", args.config_path},
        {"overrides", args.overrides},
        {"stage", config.train.stage},
        {"device", config.train.device},
        {"dtype", config.train.dtype},
        {"num_layers", config.model.num_layers},
        {"dim", config.model.dim},
        {"hybrid_layers", model::hybrid_layers(trainer.student()).size()},
        {"trainable_parameters", trainable},
        {"latent_frames", args.latent_frames},
        {"latent_height", config.inference.generator.latent_height},
        {"latent_width", config.inference.generator.latent_width},
        {"frames_per_block", config.inference.generator.frames_per_block},
        {"batch_size", config.train.batch_size},
        {"grad_accumulation", config.train.grad_accumulation},
        {"world_size", world},
        {"clips_per_step", clips_per_step},
        {"clips_per_s", clips_per_s},
        {"activation_checkpointing", config.train.activation_checkpointing},
        {"warmup_steps", args.warmup},
        {"timed_steps", args.steps},
        {"step_ms", step_ms},
        {"median_step_ms", step_median},
        {"phases", phase_json},
        {"peak_device_bytes", peak ? nlohmann::json(*peak) : nlohmann::json(nullptr)},
        {"ranks", per_rank},
        {"ranks_agree", ranks_agree}};
    io::write_file_atomically(args.json_path, out.dump(2) + "\n");
    std::printf("wrote %s\n", args.json_path.c_str());
  }
  return 0;
}

} // namespace

Command add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  auto* cmd = bench->add_subcommand("train", "Time training steps phase by phase, with random weights and clips");
  auto args = std::make_shared<BenchTrainArgs>();
  add_config_options(
      cmd, args->config_path, args->overrides, "A training config: model, hybrid, inference and train sections");
  cmd->add_option("--latent-frames", args->latent_frames, "Latent frames of the clip (default 21: 7 blocks of 3)")
      ->check(kFramesRange);
  cmd->add_option("--warmup", args->warmup, "Untimed steps first (default 2)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--steps", args->steps, "Timed steps (default 5)")->check(kCountRange);
  cmd->add_option("--json", args->json_path, "Write the results here as JSON (rank 0)");
  cmd->add_option(
      "--save-trainable",
      args->save_trainable_dir,
      "Write each rank's trainable parameters after the steps to DIR/trainable.rank<R>.safetensors");
  add_dist_timeout_option(cmd, args->dist_timeout_s);
  return [args] { return run_bench_train(*args); };
}

} // namespace arl2::cli
