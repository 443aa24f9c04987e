// The `arl2` command: one executable, one subcommand per job (`arl2 info`, `arl2 generate`, `arl2 train`,
// `arl2 rollout`, `arl2 export`, `arl2 bench train`, `arl2 toy-data`, `arl2 eval`).
#include <cstdio>
#include <exception>
#include <vector>

#include <c10/util/Exception.h>

#include "commands.h"

int main(int argc, char** argv) {
  // Line by line, so that a run killed from outside (out of memory, a time limit) has printed what it did.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  CLI::App app{"ARL2: linear-attention memory for autoregressive video diffusion"};
  app.require_subcommand(1);
  // Each adder registers its subcommand, in this order, and returns what runs it.
  std::vector<arl2::cli::Command> commands;
  for (const auto add :
       {arl2::cli::add_info_command,
        arl2::cli::add_generate_command,
        arl2::cli::add_train_command,
        arl2::cli::add_rollout_command,
        arl2::cli::add_export_command,
        arl2::cli::add_bench_command,
        arl2::cli::add_toy_data_command,
        arl2::cli::add_eval_command}) {
    commands.push_back(add(app));
  }
  CLI11_PARSE(app, argc, argv);
  const auto subcommands = app.get_subcommands([](const CLI::App*) { return true; });
  try {
    for (size_t i = 0; i < subcommands.size(); ++i) {
      if (subcommands[i]->parsed()) {
        return commands[i]();
      }
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
