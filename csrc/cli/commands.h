// The subcommands of the `arl2` executable. Each registers its options on the app and returns the
// function that runs it once the command line is parsed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace arl2::cli {

using Command = std::function<int()>;

Command add_info_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_rollout_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_toy_data_command(CLI::App& app);
Command add_eval_command(CLI::App& app);

// The ranges of the commands' size options: wide enough for any run, small enough that no product of sizes
// overflows 64 bits before it is checked.
inline const CLI::Range kFramesRange(int64_t{1}, int64_t{1} << 20);
inline const CLI::Range kCountRange(int64_t{1}, int64_t{1} << 30);

// The options of every command that runs from a config: the YAML file (`config_help` says which sections
// it reads) and --set overrides of its values.
inline void add_config_options(
    CLI::App* cmd, std::string& config_path, std::vector<std::string>& overrides, const std::string& config_help) {
  cmd->add_option("--config", config_path, config_help)->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", overrides, "Override a config value: --set section.key=value (repeatable)");
}

} // namespace arl2::cli
