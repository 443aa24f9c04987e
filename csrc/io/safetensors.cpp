// safetensors reader (mmap, zero-copy views) and atomic writer; see safetensors.h. The header is
// checked field by field against the format rules of huggingface/safetensors (its Rust
// `Metadata::validate` is the reference), because a checkpoint is untrusted input: a bad offset
// here would otherwise become an out-of-bounds read far away in the model code.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <c10/util/Exception.h>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace arl2::io {
namespace {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors stores little-endian data; this reader copies bytes as they are"
#endif

// The reference implementation's limit: a larger header is either corrupt or an attack.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeEntry {
  const char* name;
  at::ScalarType dtype;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", at::kDouble},
    {"F32", at::kFloat},
    {"F16", at::kHalf},
    {"BF16", at::kBFloat16},
    {"I64", at::kLong},
    {"I32", at::kInt},
    {"I16", at::kShort},
    {"I8", at::kChar},
    {"U8", at::kByte},
    {"BOOL", at::kBool},
};

const char* dtype_name(at::ScalarType t) {
  for (const auto& e : kDtypes) {
    if (e.dtype == t) {
      return e.name;
    }
  }
  return nullptr;
}

std::string errno_text() {
  return std::strerror(errno);
}

} // namespace

// ---- reader ----

// Owns the mapping; tensors handed out by tensor() keep a shared_ptr to it in their deleter.
struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr) {
      munmap(addr, size);
    }
  }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const std::string where = "safetensors file '" + path + "'";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, where, ": cannot open: ", errno_text());
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const std::string err = errno_text();
    close(fd);
    TORCH_CHECK(false, where, ": cannot stat: ", err);
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    close(fd);
    TORCH_CHECK(false, where, ": truncated: the file is ", file_size, " bytes, shorter than the 8-byte header length");
  }
  auto mapping = std::make_shared<Mapping>();
  void* addr = mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string mmap_err = addr == MAP_FAILED ? errno_text() : "";
  close(fd); // the mapping keeps the file alive
  TORCH_CHECK(addr != MAP_FAILED, where, ": mmap failed: ", mmap_err);
  mapping->addr = addr;
  mapping->size = file_size;
  mapping_ = mapping;
  const auto* bytes = static_cast<const uint8_t*>(addr);

  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8); // little-endian host (checked above)
  TORCH_CHECK(
      header_len <= kMaxHeaderBytes,
      where,
      ": header length ",
      header_len,
      " exceeds the limit of ",
      kMaxHeaderBytes,
      " bytes");
  TORCH_CHECK(
      header_len <= file_size - 8,
      where,
      ": header length ",
      header_len,
      " runs past the end of the file (",
      file_size,
      " bytes)");
  data_ = bytes + 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;

  const auto header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len, nullptr, /*allow_exceptions=*/false);
  TORCH_CHECK(!header.is_discarded(), where, ": header is not valid JSON");
  TORCH_CHECK(header.is_object(), where, ": header is not a JSON object but ", header.type_name());

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      TORCH_CHECK(entry.is_object(), where, ": '__metadata__' must be an object of strings, got ", entry.type_name());
      for (const auto& [k, v] : entry.items()) {
        TORCH_CHECK(v.is_string(), where, ": '__metadata__' key '", k, "' must be a string, got ", v.type_name());
        metadata_.emplace(k, v.get<std::string>());
      }
      continue;
    }
    const std::string at_key = where + ": tensor '" + name + "'";
    TORCH_CHECK(entry.is_object(), at_key, ": expected an object, got ", entry.type_name());
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
      TORCH_CHECK(entry.contains(field), at_key, ": missing field '", field, "'");
    }
    for (const auto& [field, value] : entry.items()) {
      (void)value;
      TORCH_CHECK(
          field == "dtype" || field == "shape" || field == "data_offsets",
          at_key,
          ": unexpected field '",
          field,
          "' (expected exactly dtype, shape, data_offsets)");
    }

    TensorInfo info;
    const auto& dtype = entry.at("dtype");
    TORCH_CHECK(dtype.is_string(), at_key, ": 'dtype' must be a string, got ", dtype.type_name());
    info.dtype_name = dtype.get<std::string>();
    const auto known = std::find_if(
        std::begin(kDtypes), std::end(kDtypes), [&](const DtypeEntry& e) { return info.dtype_name == e.name; });
    TORCH_CHECK(
        known != std::end(kDtypes),
        at_key,
        ": unknown dtype '",
        info.dtype_name,
        "' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    info.dtype = known->dtype;

    const auto& shape = entry.at("shape");
    TORCH_CHECK(shape.is_array(), at_key, ": 'shape' must be an array, got ", shape.type_name());
    // numel * element size is computed in 64 bits with an overflow check: a crafted shape could
    // otherwise wrap around and match a small byte range.
    uint64_t nbytes = c10::elementSize(info.dtype);
    bool overflow = false;
    for (size_t i = 0; i < shape.size(); ++i) {
      const auto& d = shape[i];
      TORCH_CHECK(d.is_number_integer(), at_key, ": 'shape[", i, "]' must be an integer, got ", d.dump());
      TORCH_CHECK(d.is_number_unsigned(), at_key, ": 'shape[", i, "]' is a negative dimension (", d.dump(), ")");
      const auto dim = d.get<uint64_t>();
      TORCH_CHECK(
          dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
          at_key,
          ": 'shape[",
          i,
          "]' is too large (",
          dim,
          ")");
      info.shape.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && nbytes > std::numeric_limits<uint64_t>::max() / dim) {
        overflow = true;
      }
      nbytes *= dim;
    }
    const bool empty = std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end();
    if (empty) {
      nbytes = 0, overflow = false;
    }
    TORCH_CHECK(!overflow, at_key, ": shape ", shape.dump(), " is too large (byte size overflows 64 bits)");

    const auto& offsets = entry.at("data_offsets");
    TORCH_CHECK(
        offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
        at_key,
        ": 'data_offsets' must be [begin, end] with non-negative integers, got ",
        offsets.dump());
    info.begin = offsets[0].get<uint64_t>();
    info.end = offsets[1].get<uint64_t>();
    TORCH_CHECK(info.begin <= info.end, at_key, ": 'data_offsets' begin ", info.begin, " is after end ", info.end);
    TORCH_CHECK(
        info.end <= data_size,
        at_key,
        ": 'data_offsets' end ",
        info.end,
        " is past the end of the data section (",
        data_size,
        " bytes)");
    TORCH_CHECK(
        info.end - info.begin == nbytes,
        at_key,
        ": size mismatch: 'data_offsets' span ",
        info.end - info.begin,
        " bytes but dtype ",
        info.dtype_name,
        " and shape ",
        shape.dump(),
        " need ",
        nbytes);
    tensors_.emplace(name, std::move(info));
  }

  // Overlap check over the non-empty byte ranges, sorted by start; empty tensors occupy nothing.
  std::vector<std::pair<const std::string*, const TensorInfo*>> ranges;
  for (const auto& [name, info] : tensors_) {
    if (info.end > info.begin) {
      ranges.emplace_back(&name, &info);
    }
  }
  std::sort(
      ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const auto& prev = ranges[i - 1];
    const auto& cur = ranges[i];
    TORCH_CHECK(
        cur.second->begin >= prev.second->end,
        where,
        ": tensors '",
        *prev.first,
        "' [",
        prev.second->begin,
        ", ",
        prev.second->end,
        ") and '",
        *cur.first,
        "' [",
        cur.second->begin,
        ", ",
        cur.second->end,
        ") overlap in the data section");
  }
}

std::vector<std::string> SafetensorsFile::keys() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) {
    out.push_back(kv.first); // std::map iterates in sorted order
  }
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const {
  return tensors_.count(name) != 0;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  TORCH_CHECK(
      it != tensors_.end(),
      "safetensors file '",
      path_,
      "': no tensor named '",
      name,
      "' (the file has ",
      tensors_.size(),
      " tensors)");
  return it->second;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& ti = info(name);
  // from_blob takes a mutable pointer; the pages are PROT_READ, so a write faults (see header).
  void* ptr = const_cast<uint8_t*>(data_ + ti.begin);
  const auto options = at::TensorOptions().dtype(ti.dtype).device(at::kCPU);
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(ti.dtype) != 0) {
    // Vectorized CPU kernels may assume natural alignment, so a misaligned range is copied.
    at::Tensor out = at::empty(ti.shape, options);
    std::memcpy(out.data_ptr(), ptr, ti.end - ti.begin);
    return out;
  }
  std::shared_ptr<const Mapping> keep = mapping_;
  return at::from_blob(
      ptr, ti.shape, [keep](void*) mutable { keep.reset(); }, options);
}

// ---- writer ----

void save_safetensors(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata) {
  // Validate and build the header before touching the file system, so bad input leaves no trace.
  // ordered_json keeps the field order of the reference writer (dtype, shape, data_offsets) and
  // puts __metadata__ first, so files match its bytes when the tensors come in its order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = metadata;
  }
  std::vector<at::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TORCH_CHECK(
        name != "__metadata__", "save_safetensors('", path, "'): '__metadata__' is reserved and cannot name a tensor");
    TORCH_CHECK(seen.insert(name).second, "save_safetensors('", path, "'): duplicate tensor name '", name, "'");
    TORCH_CHECK(t.defined(), "save_safetensors('", path, "'): tensor '", name, "' is undefined");
    const char* dname = dtype_name(t.scalar_type());
    TORCH_CHECK(
        dname != nullptr,
        "save_safetensors('",
        path,
        "'): tensor '",
        name,
        "' has dtype ",
        t.scalar_type(),
        ", which safetensors cannot store (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    TORCH_CHECK(
        t.layout() == at::kStrided,
        "save_safetensors('",
        path,
        "'): tensor '",
        name,
        "' is not strided (layout ",
        t.layout(),
        ")");
    at::Tensor c = t.cpu().contiguous();
    const auto nbytes = static_cast<uint64_t>(c.nbytes());
    header[name] = {{"dtype", dname}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(c));
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, exactly as the reference does.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();

  AtomicFile file(path, "save_safetensors");
  file.write(&header_len, 8); // little-endian host
  file.write(text.data(), text.size());
  for (const auto& c : contiguous) {
    if (c.nbytes() > 0) {
      file.write(c.data_ptr(), c.nbytes());
    }
  }
  file.commit();
}

} // namespace arl2::io
