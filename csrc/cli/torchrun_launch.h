// What a config-driven command launched by torchrun (`torchrun --nproc-per-node N --no-python arl2 ...`)
// needs to run as one rank: the process group from torchrun's variables (dist/torchrun_group.h), and the
// config with this rank's GPU (cuda:LOCAL_RANK) where the config says cuda. Without torchrun it is a world
// of one with the config as written.
#pragma once

#include <CLI/CLI.hpp>

#include "config/config.h"
#include "dist/group.h"

namespace arl2::cli {

struct RankLaunch {
  dist::Group group;
  config::Config config; // this rank's
};

RankLaunch launch_rank(const config::Config& config, double dist_timeout_s);

// --dist-timeout: seconds a rank waits for the others (rendezvous, each collective).
void add_dist_timeout_option(CLI::App* cmd, double& dist_timeout_s);

} // namespace arl2::cli
