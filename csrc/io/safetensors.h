// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte
// range, then the raw data. The reader validates the whole header as strictly as the reference
// implementation and reads each tensor with pread into a tensor of its own; the writer replaces the
// target file atomically. Errors name the file and the offending key, as in the ops.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace arl2::io {

// One entry of the header, validated: data_offsets are relative to the start of the data section.
struct TensorInfo {
  at::ScalarType dtype;
  std::string dtype_name; // as spelled in the file: "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

class SafetensorsFile {
 public:
  // Opens `path` and validates the whole header up front, so that every later accessor can trust it;
  // throws c10::Error naming the file and the key on any malformed field. Refused: anything but a
  // regular file (a FIFO is refused without waiting for a writer), a header over 100 MB or nested
  // deeper than a header's three levels, and a data section the tensors do not tile exactly (a gap,
  // an overlap or trailing bytes). The file stays open: tensors are read when asked for, from the
  // file that was validated even if another one is renamed over its path.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const {
    return path_;
  }
  std::vector<std::string> keys() const; // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

  // The tensor as a CPU tensor of the file's dtype (an I32 tensor stays int32), read into memory of
  // its own: safe to modify, and independent of the file afterwards. A file truncated since it was
  // opened gives c10::Error naming the tensor, never a crash.
  at::Tensor tensor(const std::string& name) const;
  // Row i of the tensor along its first dimension (shape[1:]), read alone: one clip of a shard that
  // holds many costs only that clip's bytes.
  at::Tensor row(const std::string& name, int64_t i) const;

 private:
  struct Descriptor;
  void read_bytes(const std::string& name, uint64_t begin, void* dst, uint64_t size) const;

  std::string path_;
  std::shared_ptr<const Descriptor> descriptor_;
  uint64_t data_offset_ = 0; // where the data section starts in the file
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` in the given order (each as a contiguous CPU copy) with an optional
// `__metadata__` map. The file is written to `path + ".tmp.<pid>"`, fsynced and renamed over
// `path`, so readers see either the old file or the complete new one; on failure the temp file is
// removed, `path` is left untouched, and c10::Error is thrown. Rejects duplicate or reserved
// names and dtypes the format cannot express (complex, unsigned > 8 bits, quantized, ...).
void save_safetensors(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata = {});

} // namespace arl2::io
