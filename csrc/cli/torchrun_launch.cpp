#include "torchrun_launch.h"

#include <chrono>
#include <cstdint>
#include <string>

#include <c10/util/Exception.h>

#include "dist/torchrun_group.h"

namespace arl2::cli {

RankLaunch launch_rank(const config::Config& config, double dist_timeout_s) {
  const auto environment = dist::torchrun_environment();
  TORCH_CHECK(
      environment.world_size <= 1 || config.train.device.rfind("cuda", 0) == 0,
      "train.device is '",
      config.train.device,
      "' in a world of ",
      environment.world_size,
      " processes (WORLD_SIZE), but ",
      dist::cpu_multi_process_route());
  RankLaunch launch{
      dist::torchrun_group(environment, std::chrono::milliseconds(static_cast<int64_t>(dist_timeout_s * 1000))),
      config};
  if (environment.world_size > 1 && config.train.device == "cuda") {
    launch.config.train.device = "cuda:" + std::to_string(environment.local_rank);
  }
  return launch;
}

void add_dist_timeout_option(CLI::App* cmd, double& dist_timeout_s) {
  cmd->add_option(
         "--dist-timeout",
         dist_timeout_s,
         "Seconds a rank waits for the others (rendezvous, each collective) before the run stops with an error")
      ->check(CLI::PositiveNumber);
}

} // namespace arl2::cli
