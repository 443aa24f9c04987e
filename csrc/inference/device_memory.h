// What generation needs to know about the device it runs on: free memory before it starts (to refuse a
// run that cannot fit), the peak it allocated and what it holds after each block (for the metrics), and a way
// to wait for queued work (for wall-clock timings). Goes through torch's accelerator API, so it needs no CUDA
// headers; on the CPU the allocator keeps no figures, and the process's resident memory stands in for them.
#pragma once

#include <cstdint>
#include <optional>

#include <c10/core/Device.h>

namespace arl2::inference {

// Bytes the device can still allocate: on a GPU the driver's free memory plus what torch's caching allocator
// holds unused; on the CPU the host's available memory (MemAvailable, less where the process's cgroup limits
// it); nullopt where that cannot be read and on the meta device.
std::optional<int64_t> free_device_bytes(const c10::Device& device);

// Starts counting the peak of allocated bytes afresh; a no-op on the CPU.
void reset_peak_device_bytes(const c10::Device& device);

// The most bytes allocated at once since the last reset; nullopt on the CPU.
std::optional<int64_t> peak_device_bytes(const c10::Device& device);

// Bytes in use now: allocated on an accelerator; on the CPU the process's resident set (Linux; nullopt
// elsewhere).
std::optional<int64_t> used_memory_bytes(const c10::Device& device);

// Returns once every kernel queued on the device has finished; a no-op on the CPU.
void synchronize_device(const c10::Device& device);

} // namespace arl2::inference
