// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte
// range, then the raw data. The reader maps the file and hands out zero-copy CPU views; the writer
// replaces the target file atomically. Errors name the file and the offending key, as in the ops.
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
  // Maps `path` read-only and validates the whole header up front, so that every later accessor
  // can trust it; throws c10::Error naming the file and the key on any malformed field.
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

  // A CPU tensor viewing the mapped bytes without a copy; the mapping lives as long as any such
  // tensor does, even after this object is gone. The pages are mapped read-only, so writing
  // through the view crashes the process: callers must `.clone()` before modifying it. A tensor
  // whose bytes are not aligned to its element size (legal in the format; the reference writer
  // avoids it by sorting, ours keeps the caller's order) is copied into an aligned tensor instead.
  at::Tensor tensor(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<const Mapping> mapping_;
  const uint8_t* data_ = nullptr; // start of the data section inside the mapping
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
