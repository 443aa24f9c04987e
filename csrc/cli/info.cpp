// `arl2 info`: what this build is and can do (versions, CUDA, the registered ops), so a user can check
// an install before starting a long job.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "commands.h"

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

int run_info() {
  std::printf("arl2 %s (torch %s)\n", ARL2_VERSION, TORCH_VERSION);
  std::printf("CUDA kernels: %s\n", kBuiltWithCuda ? "built" : "not built");
  const auto devices = torch::cuda::device_count();
  std::printf("CUDA devices: %zu\n", static_cast<size_t>(devices));
  const auto ops = arl2_op_names();
  std::printf("ops (%zu):\n", ops.size());
  for (const auto& name : ops) {
    std::printf("  %s\n", name.c_str());
  }
  return ops.empty() ? 1 : 0;
}

} // namespace

Command add_info_command(CLI::App& app) {
  app.add_subcommand("info", "Print the build's versions, CUDA support and registered ops");
  return run_info;
}

} // namespace arl2::cli
