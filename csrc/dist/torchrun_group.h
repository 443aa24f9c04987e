// The process group of a job launched by torchrun (`torchrun --nproc-per-node N --no-python arl2 train ...`),
// read from the variables torchrun sets: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK. The ranks
// meet at a TCPStore at MASTER_ADDR:MASTER_PORT: torchrun's agent hosts it where it says so
// (TORCHELASTIC_USE_AGENT_STORE=True), rank 0 otherwise. The collectives run on NCCL, each rank on the GPU of
// its LOCAL_RANK.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dist/group.h"

namespace arl2::dist {

struct TorchrunEnvironment {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int64_t master_port = 0;
  bool agent_hosts_store = false;
};

// Unset variables read as a world of one; a set one that is not a valid number is an error naming it.
TorchrunEnvironment torchrun_environment();

// What every refusal of a world of several processes that NCCL cannot run says: that the CLI's path is NCCL on
// CUDA GPUs, and the Gloo route from Python for the CPU.
const char* cpu_multi_process_route();

// A world of one (Group()) when WORLD_SIZE is 1 or unset. Otherwise an NCCL group, which needs a CUDA
// build and a GPU for LOCAL_RANK (checked before any CUDA call; the error gives cpu_multi_process_route()).
// `timeout` bounds the rendezvous and every collective.
Group torchrun_group(
    const TorchrunEnvironment& environment, std::chrono::milliseconds timeout = Group::kDefaultTimeout);

} // namespace arl2::dist
