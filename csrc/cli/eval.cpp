// `arl2 eval`: the toy domain's teacher and its hybrids or students measured where the truth is known
// (eval/toy_eval.h says what is measured): progress on stderr, the summary tables on stdout, every per-frame
// array with its means, per-tenth means and block flicker in DIR/eval.json (eval/eval_report.h).
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/TensorOptions.h>

#include "commands.h"
#include "eval/toy_eval.h"
#include "generation_inputs.h"
#include "io/atomic_file.h"
#include "io/directories.h"
#include "io/output_paths.h"
#include "model/dtype_names.h"
#include "train/model_from_config.h"
#include "train/teacher.h"

namespace arl2::cli {
namespace {

struct EvalArgs {
  eval::EvalRequest request;
  std::string out_dir;
};

// The files an evaluation reads: every config and the weights each names.
std::vector<io::NamedPath> eval_inputs(const eval::EvalRequest& request) {
  std::vector<io::NamedPath> inputs;
  const auto add_config = [&](const std::string& option, const std::string& path) {
    inputs.push_back({option, path});
    for (const auto& weights : train::weights_files(config::load_config(path, request.overrides))) {
      inputs.push_back({path + "'s " + weights.what, weights.path});
    }
  };
  add_config("--teacher", request.teacher_config);
  for (const auto& model : request.models) {
    add_config("--model", eval::parse_named_config(model).config_path);
  }
  return inputs;
}

int run_eval(const EvalArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  io::make_directories(args.out_dir, "--out");
  const auto path = args.out_dir + "/eval.json";
  io::check_output_file({"--out", path}, eval_inputs(args.request));
  const auto build = [](const config::Config& config, const std::string& config_path) {
    const auto& inf = config.inference;
    check_inference_device(inf.device, config_path);
    const auto options = at::TensorOptions().dtype(model::dtype_named(inf.dtype)).device(at::Device(inf.device));
    return train::model_from_config(config, options);
  };
  const auto log = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  };
  const auto report = eval::run_toy_eval(args.request, build, log);

  io::write_file_atomically(path, eval::eval_json(report));
  std::printf("%s", eval::summary_table(report).c_str());
  std::printf(
      "wrote %s (%.1f s)\n",
      path.c_str(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

} // namespace

Command add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Measure the toy teacher and its hybrids or students on toy clips, where the truth is known: continuation "
      "of true frames, the teacher-forcing gap to the teacher, and rollouts from the prompt");
  auto args = std::make_shared<EvalArgs>();
  auto& r = args->request;
  cmd->add_option(
         "--teacher",
         r.teacher_config,
         "The teacher's config: a toy-domain model (RGB pixels) with no hybrid section, its weights from "
         "inference.checkpoint; reported as 'teacher'")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option(
      "--model",
      r.models,
      "NAME=CONFIG: a hybrid or student to measure against the teacher, reported as NAME (letters, digits, _ "
      "and -); repeatable");
  cmd->add_option(
      "--set",
      r.overrides,
      "Override a value of every config: --set section.key=value (repeatable), e.g. --set inference.device=cpu");
  cmd->add_option("--clips", r.options.clips, "Toy clips to measure on (default 8)")->check(kCountRange);
  cmd->add_option(
      "--seed",
      r.options.seed,
      "Seed of the clips' scenes and of the models' noise (default 1000; the toy configs train on seeds 0 and 1)");
  cmd->add_option(
         "--lengths",
         r.options.lengths,
         "Rollout lengths in frames, comma-separated, each whole blocks of inference.frames_per_block (default "
         "16,64,320)")
      ->delimiter(',')
      ->check(kFramesRange);
  cmd->add_option(
         "--context-blocks", r.options.context_blocks, "Continuation: true blocks given as context (default 1)")
      ->check(kFramesRange);
  cmd->add_option(
         "--predict-blocks",
         r.options.predict_blocks,
         "Continuation: blocks generated after the context, compared with the truth (default 3)")
      ->check(kFramesRange);
  cmd->add_option(
         "--out",
         args->out_dir,
         "Output folder for eval.json: every per-frame array, its means and per-tenth means at each length, and the "
         "block flicker (frame change across block boundaries over frame change inside blocks)")
      ->required();
  return [args] { return run_eval(*args); };
}

} // namespace arl2::cli
