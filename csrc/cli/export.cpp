// `arl2 export`: a training checkpoint made into one weights file that needs nothing else. Of a hybrid
// (stage 1 or 2: only the new parameters, plus a reference to the base weights): the base weights, converted
// as the run did, the trained or EMA parameters, the FFN adapters merged into the FFN weights
// (train/trained_hybrid.h); `arl2 generate` loads it as inference.hybrid_checkpoint under the run's hybrid
// section, with no inference.checkpoint. Of a teacher (stage 0, the whole model): the plain model
// (train/trained_teacher.h), which inference.checkpoint loads as a teacher.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "config/config.h"
#include "io/output_paths.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/trained_hybrid.h"
#include "train/trained_teacher.h"

namespace arl2::cli {
namespace {

struct ExportArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string checkpoint;
  std::string out;
  bool ema = false;
};

// The files an export reads: the config, the checkpoint and the base weights, named by the config or, in a hybrid
// checkpoint, by the checkpoint itself.
std::vector<io::NamedPath> export_inputs(const ExportArgs& args, const config::Config& config) {
  std::vector<io::NamedPath> inputs = {
      {"--config", args.config_path},
      {"--checkpoint", args.checkpoint},
      {"inference.checkpoint", config.inference.checkpoint}};
  const io::SafetensorsFile checkpoint(args.checkpoint);
  if (train::is_training_checkpoint(checkpoint)) {
    inputs.push_back({"the base weights --checkpoint names", train::read_checkpoint_state(checkpoint).base_weights});
  }
  return inputs;
}

int run_export(const ExportArgs& args) {
  const auto config = config::load_config(args.config_path, args.overrides);
  io::check_output_file({"--out", args.out}, export_inputs(args, config));
  const auto weights = args.ema ? train::TrainedWeights::kEma : train::TrainedWeights::kRaw;
  const char* which = args.ema ? "EMA" : "trained";
  if (config.train.stage == 0) {
    std::fprintf(stderr, "exporting the %s teacher of %s\n", which, args.checkpoint.c_str());
    train::export_teacher(config, args.checkpoint, weights, args.out);
  } else {
    std::fprintf(
        stderr,
        "exporting the %s parameters of %s onto %s\n",
        which,
        args.checkpoint.c_str(),
        config.inference.checkpoint.empty() ? "the base weights it names" : config.inference.checkpoint.c_str());
    train::export_merged(config, args.checkpoint, weights, args.out);
  }
  std::printf("wrote %s\n", args.out.c_str());
  return 0;
}

} // namespace

Command add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export",
      "Make a training checkpoint one weights file: a hybrid merged with its base weights, or a teacher (stage 0)");
  auto args = std::make_shared<ExportArgs>();
  add_config_options(cmd, args->config_path, args->overrides, "The run's config (its folder's config.yaml)");
  cmd->add_option("--checkpoint", args->checkpoint, "A checkpoint of the run")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "The merged safetensors file (written atomically; not one of the files it reads)")
      ->required();
  cmd->add_flag("--ema", args->ema, "Export the EMA of the parameters rather than their last values");
  return [args] { return run_export(*args); };
}

} // namespace arl2::cli
