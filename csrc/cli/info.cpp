// `arl2 info`: what this build is and can do (versions, CUDA, the registered ops), so a user can check
// an install before starting a long job; with --config, also the configured model's parameters.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "commands.h"
#include "config/config.h"
#include "parameter_report.h"

namespace arl2::cli {
namespace {

#ifdef ARL2_WITH_CUDA
constexpr bool kBuiltWithCuda = true;
#else
constexpr bool kBuiltWithCuda = false;
#endif

std::vector<std::string> arl2_op_names() {
  std::vector<std::string> names;
  for (const auto& op : c10::Dispatcher::singleton().getAllOpNames()) {
    if (op.name.rfind("arl2::", 0) == 0) {
      names.push_back(op.name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

int run_info(const std::string& config_path) {
  // Read first, so that a bad config fails before anything is printed.
  const auto report = config_path.empty() ? std::string() : parameter_report(config::load_config(config_path));
  std::printf("arl2 %s (torch %s)\n", ARL2_VERSION, TORCH_VERSION);
  std::printf("CUDA kernels: %s\n", kBuiltWithCuda ? "built" : "not built");
  const auto devices = torch::cuda::device_count();
  std::printf("CUDA devices: %zu\n", static_cast<size_t>(devices));
  const auto ops = arl2_op_names();
  std::printf("ops (%zu):\n", ops.size());
  for (const auto& name : ops) {
    std::printf("  %s\n", name.c_str());
  }
  std::printf("%s", report.c_str());
  return ops.empty() ? 1 : 0;
}

} // namespace

Command add_info_command(CLI::App& app) {
  auto* info = app.add_subcommand("info", "Print the build's versions, CUDA support and registered ops");
  auto config_path = std::make_shared<std::string>();
  info->add_option("--config", *config_path, "Also count the parameters of this config's model (built without memory)")
      ->check(CLI::ExistingFile);
  return [config_path] { return run_info(*config_path); };
}

} // namespace arl2::cli
