#include "dist/torchrun_group.h"

#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

#ifdef ARL2_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace arl2::dist {
namespace {

int64_t integer_variable(const char* name, int64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  TORCH_CHECK(*end == '\0' && value >= 0, "dist: ", name, " must be a non-negative integer, got '", text, "'");
  return value;
}

} // namespace

const char* cpu_multi_process_route() {
  return "the CLI's multi-process path runs on NCCL, one CUDA GPU per rank; to train several processes on the CPU, "
         "make a Gloo group with torch.distributed and pass it to arl2._C.Trainer(..., process_group=...) (README, "
         "'Data-parallel training')";
}

TorchrunEnvironment torchrun_environment() {
  TorchrunEnvironment e;
  e.world_size = integer_variable("WORLD_SIZE", 1);
  e.rank = integer_variable("RANK", 0);
  e.local_rank = integer_variable("LOCAL_RANK", 0);
  e.master_port = integer_variable("MASTER_PORT", 0);
  const char* addr = std::getenv("MASTER_ADDR");
  e.master_addr = addr ? addr : "";
  const char* agent_store = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_hosts_store = agent_store != nullptr && std::string(agent_store) == "True";
  return e;
}

Group torchrun_group(const TorchrunEnvironment& e, [[maybe_unused]] std::chrono::milliseconds timeout) {
  TORCH_CHECK(e.world_size >= 1, "dist: WORLD_SIZE must be at least 1, got ", e.world_size);
  TORCH_CHECK(e.rank < e.world_size, "dist: RANK ", e.rank, " is not below WORLD_SIZE ", e.world_size);
  if (e.world_size == 1) {
    return Group();
  }
  TORCH_CHECK(
      !e.master_addr.empty() && e.master_port > 0 && e.master_port < 65536,
      "dist: a world of ",
      e.world_size,
      " needs MASTER_ADDR and MASTER_PORT (torchrun sets them), got '",
      e.master_addr,
      "' and ",
      e.master_port);
#ifdef ARL2_WITH_CUDA
  // Before any CUDA call, which on a machine without a GPU fails with a driver message that says nothing of this.
  const int64_t gpus = c10::cuda::device_count();
  TORCH_CHECK(
      e.local_rank < gpus,
      "dist: WORLD_SIZE is ",
      e.world_size,
      " and LOCAL_RANK ",
      e.local_rank,
      ", but this machine has ",
      gpus,
      " CUDA GPU(s): ",
      cpu_multi_process_route());
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(e.local_rank));
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(e.master_port);
  store_options.isServer = e.rank == 0 && !e.agent_hosts_store;
  store_options.numWorkers = static_cast<size_t>(e.world_size);
  store_options.timeout = timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>(e.master_addr, store_options);
  const int rank = static_cast<int>(e.rank), size = static_cast<int>(e.world_size);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
  // What torch.distributed.init_process_group("nccl") builds: a ProcessGroup dispatching CUDA tensors to NCCL.
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, size);
  group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
  group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
  return Group(group, timeout);
#else
  TORCH_CHECK(false, "dist: WORLD_SIZE is ", e.world_size, ", but this build has no CUDA: ", cpu_multi_process_route());
#endif
}

} // namespace arl2::dist
