// Device memory and synchronisation (see device_memory.h).
#include "inference/device_memory.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include <ATen/Context.h>
#include <ATen/DeviceAccelerator.h>
#include <c10/core/CachingDeviceAllocator.h>

namespace arl2::inference {
namespace {

bool is_accelerator(const c10::Device& device) {
  return !device.is_cpu() && !device.is_meta();
}

// Initialises the device's runtime and caching allocator first: outside Python nothing else has when the
// first question about memory comes, and the allocator refuses questions before its init.
c10::DeviceIndex index_of(const c10::Device& device) {
  at::globalContext().lazyInitDevice(device.type());
  return device.has_index() ? device.index() : at::accelerator::getDeviceIndex();
}

constexpr auto kAllPools = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);

// The first number in `path` after `label` ("" for a file that holds one number), or nullopt where the file
// or the number is absent (cgroup v2's memory.max reads "max" where nothing limits it).
std::optional<int64_t> number_in(const char* path, const std::string& label) {
  std::ifstream in(path);
  for (std::string word; in >> word;) {
    if (label.empty() || word == label) {
      std::istringstream first(word);
      int64_t n = 0;
      const bool read = label.empty() ? static_cast<bool>(first >> n) : static_cast<bool>(in >> n);
      return read ? std::optional<int64_t>(n) : std::nullopt;
    }
  }
  return std::nullopt;
}

// What this process can still take from the host: the kernel's MemAvailable, or less where its cgroup's limit
// leaves less; nullopt where neither can be read.
std::optional<int64_t> available_host_bytes() {
  auto available = number_in("/proc/meminfo", "MemAvailable:");
  if (available) {
    *available *= 1024; // reported in kB
  }
  const auto limit = number_in("/sys/fs/cgroup/memory.max", "");
  const auto current = number_in("/sys/fs/cgroup/memory.current", "");
  if (limit && current) {
    const int64_t left = *limit - *current;
    available = available ? std::min(*available, left) : left;
  }
  return available;
}

} // namespace

std::optional<int64_t> free_device_bytes(const c10::Device& device) {
  if (device.is_meta()) {
    return std::nullopt;
  }
  if (device.is_cpu()) {
    return available_host_bytes();
  }
  auto* allocator = at::getDeviceAllocator(device.type());
  const auto index = index_of(device);
  const auto stats = allocator->getDeviceStats(index);
  const auto cached_unused = stats.reserved_bytes[kAllPools].current - stats.allocated_bytes[kAllPools].current;
  return static_cast<int64_t>(allocator->getMemoryInfo(index).first) + cached_unused;
}

void reset_peak_device_bytes(const c10::Device& device) {
  if (is_accelerator(device)) {
    at::getDeviceAllocator(device.type())->resetPeakStats(index_of(device));
  }
}

std::optional<int64_t> peak_device_bytes(const c10::Device& device) {
  if (!is_accelerator(device)) {
    return std::nullopt;
  }
  return at::getDeviceAllocator(device.type())->getDeviceStats(index_of(device)).allocated_bytes[kAllPools].peak;
}

std::optional<int64_t> used_memory_bytes(const c10::Device& device) {
  if (is_accelerator(device)) {
    return at::getDeviceAllocator(device.type())->getDeviceStats(index_of(device)).allocated_bytes[kAllPools].current;
  }
  // statm: total program size, then resident pages
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) {
    return std::nullopt;
  }
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

void synchronize_device(const c10::Device& device) {
  if (is_accelerator(device)) {
    at::accelerator::synchronizeDevice(index_of(device));
  }
}

} // namespace arl2::inference
