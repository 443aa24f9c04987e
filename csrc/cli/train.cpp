// `arl2 train`: trains the teacher (stage 0) or distils the configured hybrid from it (stage 1, 2 or 3), as the
// config's train section says (train/trainer.h). Before the first step it prints the parameters and the trainable share
// and writes the effective config to <train.out>/config.yaml; then train/training_run.h's loop logs and checkpoints.
// --resume continues a run from one of its checkpoints exactly. Before any work the run folder is checked and
// locked (train/run_folder.h): a fresh run refuses a folder that holds a run, unless --overwrite.
//
// Launched by torchrun (`torchrun --nproc-per-node N --no-python arl2 train ...`), it trains data-parallel
// over an NCCL group from torchrun's variables (dist/torchrun_group.h), each rank on the GPU of its
// LOCAL_RANK; rank 0 alone prints and writes the run folder.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "config/config.h"
#include "io/atomic_file.h"
#include "parameter_report.h"
#include "torchrun_launch.h"
#include "train/run_folder.h"
#include "train/trainer.h"
#include "train/training_run.h"

namespace arl2::cli {
namespace {

struct TrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string resume;
  bool overwrite = false;
  double dist_timeout_s = 600;
};

int run_train(const TrainArgs& args) {
  const auto config = config::load_config(args.config_path, args.overrides);
  // Each rank on its own GPU; the hash and config.yaml keep the config as written, the same on every rank.
  auto launch = launch_rank(config, args.dist_timeout_s);
  const bool speaks = launch.group.rank() == 0; // for the whole run
  const auto& t = config.train;
  std::optional<train::RunFolder> folder; // rank 0 writes the run folder
  if (speaks) {
    folder.emplace(
        t.out,
        train::run_start(args.resume, args.overwrite),
        std::vector<io::NamedPath>{
            {"train.init_from", t.init_from}, {"inference.checkpoint", config.inference.checkpoint}});
  }
  auto as_built = config; // what the report counts: the model this stage trains
  if (t.stage > 0) {
    as_built.hybrid = train::student_hybrid_options(config);
  }
  if (speaks) {
    std::fprintf(stderr, "%s", parameter_report(as_built).c_str());
  }

  train::Trainer trainer(launch.config, config::config_hash(config), std::move(launch.group));
  const int64_t trainable = trainer.trainable_numel();
  if (!args.resume.empty()) {
    trainer.resume(args.resume);
  }
  if (speaks) {
    std::fprintf(
        stderr,
        "stage %lld: %zu trainable tensors (%lld parameters), %lld steps, %s on %s, data %s, %lld rank(s)\n",
        static_cast<long long>(t.stage),
        trainer.trainable().size(),
        static_cast<long long>(trainable),
        static_cast<long long>(t.steps),
        t.dtype.c_str(),
        t.device.c_str(),
        config.data.path.c_str(),
        static_cast<long long>(trainer.group().size()));
    if (!args.resume.empty()) {
      std::fprintf(
          stderr, "resumed from %s at step %lld\n", args.resume.c_str(), static_cast<long long>(trainer.steps_done()));
    } else if (!t.init_from.empty()) {
      std::fprintf(stderr, "trainable parameters from %s (train.init_from)\n", t.init_from.c_str());
    }
    io::write_file_atomically(folder->config_path(), config::dump_config(config));
  }
  train::run_training(trainer, folder ? &*folder : nullptr, stderr);
  if (speaks) {
    std::printf(
        "trained to step %lld; last checkpoint %s\n",
        static_cast<long long>(trainer.steps_done()),
        trainer.last_checkpoint().c_str());
  }
  return 0;
}

} // namespace

Command add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train",
      "Train the teacher (stage 0) or distil the configured hybrid from it: layer alignment (stage 1), "
      "distillation (stage 2) or on-policy distillation on the hybrid's own long rollouts (stage 3)");
  auto args = std::make_shared<TrainArgs>();
  add_config_options(
      cmd, args->config_path, args->overrides, "YAML config: model, hybrid, train, data and inference sections");
  cmd->add_option("--resume", args->resume, "A checkpoint of this run to continue from exactly")
      ->check(CLI::ExistingFile);
  cmd->add_flag(
         "--overwrite",
         args->overwrite,
         "Start afresh in a train.out that holds a run (config.yaml, metrics.jsonl or checkpoints), removing that "
         "run's files first; without it such a folder is refused")
      ->excludes("--resume");
  add_dist_timeout_option(cmd, args->dist_timeout_s);
  return [args] { return run_train(*args); };
}

} // namespace arl2::cli
