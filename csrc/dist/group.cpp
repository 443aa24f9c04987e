#include "dist/group.h"

#include <utility>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

namespace arl2::dist {

Group::Group(c10::intrusive_ptr<c10d::ProcessGroup> group, std::chrono::milliseconds timeout, int64_t bucket_bytes)
    : group_(std::move(group)), timeout_(timeout), bucket_bytes_(bucket_bytes) {
  TORCH_CHECK(group_, "dist::Group: the process group is null (a world of one needs none: use Group())");
  TORCH_CHECK(timeout.count() > 0, "dist::Group: timeout must be positive, got ", timeout.count(), " ms");
  TORCH_CHECK(bucket_bytes > 0, "dist::Group: bucket_bytes must be positive, got ", bucket_bytes);
}

int64_t Group::rank() const {
  return group_ ? group_->getRank() : 0;
}

int64_t Group::size() const {
  return group_ ? group_->getSize() : 1;
}

void Group::wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) const {
  const auto fail = [&](const char* cause) {
    TORCH_CHECK(
        false,
        "dist: ",
        what,
        " failed on rank ",
        rank(),
        " of ",
        size(),
        " (timeout ",
        timeout_.count(),
        " ms; another rank may have stopped): ",
        cause);
  };
  try {
    work->wait(timeout_);
  } catch (const c10::Error& e) {
    fail(e.what_without_backtrace()); // the backtrace is c10d's, not the caller's
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void Group::bucketed(const std::vector<at::Tensor>& tensors, const std::function<void(at::Tensor&)>& collective) const {
  c10::NoGradGuard no_grad; // the tensors may be parameters, written in place
  size_t first = 0;
  while (first < tensors.size()) {
    const auto& head = tensors[first];
    size_t end = first + 1;
    int64_t bytes = head.nbytes();
    while (end < tensors.size() && tensors[end].scalar_type() == head.scalar_type() &&
           tensors[end].device() == head.device() &&
           bytes + static_cast<int64_t>(tensors[end].nbytes()) <= bucket_bytes_) {
      bytes += tensors[end].nbytes();
      ++end;
    }
    std::vector<at::Tensor> parts;
    for (size_t i = first; i < end; ++i) {
      parts.push_back(tensors[i].reshape({-1}));
    }
    auto flat = at::cat(parts);
    collective(flat);
    int64_t offset = 0;
    for (size_t i = first; i < end; ++i) {
      const auto& t = tensors[i];
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
    first = end;
  }
}

void Group::all_reduce(const std::vector<at::Tensor>& tensors, Reduction reduction) const {
  if (!group_) {
    return; // a world of one: each value is already its sum and its mean
  }
  // Summed, then divided: Gloo has no average.
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::SUM;
  options.timeout = timeout_;
  bucketed(tensors, [&](at::Tensor& flat) {
    std::vector<at::Tensor> buffer{flat};
    wait(group_->allreduce(buffer, options), "all-reduce");
    if (reduction == Reduction::kMean) {
      flat.div_(static_cast<double>(size()));
    }
  });
}

void Group::broadcast(const std::vector<at::Tensor>& tensors) const {
  if (!group_) {
    return;
  }
  c10d::BroadcastOptions options;
  options.rootRank = 0;
  options.timeout = timeout_;
  bucketed(tensors, [&](at::Tensor& flat) {
    std::vector<at::Tensor> buffer{flat};
    wait(group_->broadcast(buffer, options), "broadcast");
  });
}

void Group::barrier() const {
  if (!group_) {
    return;
  }
  c10d::BarrierOptions options;
  options.timeout = timeout_;
  wait(group_->barrier(options), "barrier");
}

} // namespace arl2::dist
