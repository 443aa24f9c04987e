// dist::Group as a world of one (what a single process trains with: every collective leaves the tensors as
// they are) and the torchrun environment's checks. Collectives over real ranks run in
// tests/python/test_dist_train.py on torch.distributed's Gloo group.
#include <cstdlib>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "catch.h"
#include "dist/group.h"
#include "dist/torchrun_group.h"
#include "error_of.h"

namespace arl2::test {
namespace {

TEST_CASE("a world of one leaves every tensor as it is", "[train][dist]") {
  const dist::Group group;
  CHECK(group.rank() == 0);
  CHECK(group.size() == 1);
  CHECK_FALSE(group.is_distributed());
  const auto a = torch::randn({3, 4}), b = torch::randn({5}, torch::kDouble);
  const auto a0 = a.clone(), b0 = b.clone();
  group.all_reduce({a, b}, dist::Reduction::kMean);
  group.all_reduce({a, b}, dist::Reduction::kSum);
  group.broadcast({a, b});
  group.barrier();
  CHECK(torch::equal(a, a0));
  CHECK(torch::equal(b, b0));
}

TEST_CASE("a group needs a process group and a positive timeout", "[train][dist][errors]") {
  CHECK(error_of([] {
          dist::Group(c10::intrusive_ptr<c10d::ProcessGroup>());
        }).find("the process group is null") != std::string::npos);
  const auto two = c10::make_intrusive<c10d::ProcessGroup>(1, 2);
  CHECK(error_of([&] {
          dist::Group(two, std::chrono::milliseconds(0));
        }).find("timeout must be positive") != std::string::npos);
  const dist::Group group(two);
  CHECK(group.rank() == 1);
  CHECK(group.size() == 2);
  CHECK(group.is_distributed());
}

TEST_CASE("torchrun's variables are read and checked by name", "[train][dist][errors]") {
  setenv("WORLD_SIZE", "1", 1);
  setenv("RANK", "0", 1);
  CHECK_FALSE(dist::torchrun_group(dist::torchrun_environment()).is_distributed());

  setenv("WORLD_SIZE", "two", 1);
  CHECK(error_of([] {
          dist::torchrun_environment();
        }).find("WORLD_SIZE must be a non-negative integer, got 'two'") != std::string::npos);

  dist::TorchrunEnvironment e;
  e.world_size = 2;
  e.rank = 2;
  CHECK(error_of([&] { dist::torchrun_group(e); }).find("RANK 2 is not below WORLD_SIZE 2") != std::string::npos);
  e.rank = 1;
  CHECK(error_of([&] { dist::torchrun_group(e); }).find("needs MASTER_ADDR and MASTER_PORT") != std::string::npos);
  // Where NCCL cannot run (no CUDA build, or no GPU for LOCAL_RANK), before any CUDA call: the Gloo route.
  e.master_addr = "127.0.0.1";
  e.master_port = 29531;
  e.local_rank = 64;
  const auto no_nccl = error_of([&] { dist::torchrun_group(e); });
  CHECK(no_nccl.find("dist: WORLD_SIZE is 2") != std::string::npos);
  CHECK(no_nccl.find(dist::cpu_multi_process_route()) != std::string::npos);
  CHECK(no_nccl.find("Gloo group") != std::string::npos);
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
}

} // namespace
} // namespace arl2::test
