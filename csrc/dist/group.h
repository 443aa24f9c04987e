// The c10d process group the trainer runs in (docs/design.md, "Distributed training"), reduced to what data-parallel
// training needs: rank, size, an all-reduce and a broadcast over lists of tensors (flattened into buckets, so that a
// model's hundreds of small parameters cost a few collectives), and a barrier, each waited for with the group's
// timeout. A default-constructed Group is a world of one: no process group, every call returns at once, so a single
// process behaves exactly as without it.
//
// Groups come from torchrun's environment (torchrun_group.h, NCCL) or from a process group made elsewhere:
// Python's torch.distributed hands its Gloo group to the trainer through the bindings.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

namespace arl2::dist {

enum class Reduction { kSum, kMean };

class Group {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::minutes(10)};
  static constexpr int64_t kDefaultBucketBytes = 32 << 20;

  // A world of one.
  Group() = default;
  // Collectives over `group` (not null); a collective not done within `timeout` throws.
  explicit Group(
      c10::intrusive_ptr<c10d::ProcessGroup> group,
      std::chrono::milliseconds timeout = kDefaultTimeout,
      int64_t bucket_bytes = kDefaultBucketBytes);

  int64_t rank() const;
  int64_t size() const;
  bool is_distributed() const {
    return static_cast<bool>(group_);
  }
  const c10::intrusive_ptr<c10d::ProcessGroup>& process_group() const {
    return group_;
  }

  // In place: each tensor becomes the sum or the mean of its values on every rank.
  void all_reduce(const std::vector<at::Tensor>& tensors, Reduction reduction) const;
  // In place: each tensor takes rank 0's values.
  void broadcast(const std::vector<at::Tensor>& tensors) const;
  void barrier() const;

 private:
  // Runs `collective` on flat buckets of consecutive `tensors` of one dtype and device, then copies the
  // results back into them.
  void bucketed(const std::vector<at::Tensor>& tensors, const std::function<void(at::Tensor&)>& collective) const;
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) const;

  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
  int64_t bucket_bytes_ = kDefaultBucketBytes;
};

} // namespace arl2::dist
