// The `arl2` command: one executable, one subcommand per job (`arl2 info`, `arl2 generate`, `arl2 train`,
// `arl2 rollout`, `arl2 export`, `arl2 bench train`, `arl2 toy-data`, `arl2 eval`).
#include <cstdio>
#include <exception>

#include <c10/util/Exception.h>

#include "commands.h"

int main(int argc, char** argv) {
  // Line by line, so that a run killed from outside (out of memory, a time limit) has printed what it did.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  CLI::App app{"ARL2: linear-attention memory for autoregressive video diffusion"};
  app.require_subcommand(1);
  const arl2::cli::Command info = arl2::cli::add_info_command(app);
  const arl2::cli::Command generate = arl2::cli::add_generate_command(app);
  const arl2::cli::Command train = arl2::cli::add_train_command(app);
  const arl2::cli::Command rollout = arl2::cli::add_rollout_command(app);
  const arl2::cli::Command export_ = arl2::cli::add_export_command(app);
  const arl2::cli::Command bench = arl2::cli::add_bench_command(app);
  const arl2::cli::Command toy_data = arl2::cli::add_toy_data_command(app);
  const arl2::cli::Command eval = arl2::cli::add_eval_command(app);
  CLI11_PARSE(app, argc, argv);
  try {
    if (app.got_subcommand("info")) {
      return info();
    }
    if (app.got_subcommand("generate")) {
      return generate();
    }
    if (app.got_subcommand("train")) {
      return train();
    }
    if (app.got_subcommand("rollout")) {
      return rollout();
    }
    if (app.got_subcommand("export")) {
      return export_();
    }
    if (app.got_subcommand("bench")) {
      return bench();
    }
    if (app.got_subcommand("toy-data")) {
      return toy_data();
    }
    if (app.got_subcommand("eval")) {
      return eval();
    }
  } catch (const c10::Error& e) {
    // Its what() carries a C++ backtrace; users get the message.
    std::fprintf(stderr, "arl2: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "arl2: %s\n", e.what());
    return 1;
  }
  return 0;
}
