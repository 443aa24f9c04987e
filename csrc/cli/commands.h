// The subcommands of the `arl2` executable. Each registers its options on the app and returns the
// function that runs it once the command line is parsed.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace arl2::cli {

using Command = std::function<int()>;

Command add_info_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_rollout_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_bench_command(CLI::App& app);

} // namespace arl2::cli
