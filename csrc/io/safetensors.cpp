// safetensors reader (positioned reads into owned tensors) and atomic writer; see safetensors.h. The
// header is checked field by field against the format rules of huggingface/safetensors (its Rust
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ops/empty.h>
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

// ---- reader ----

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) {
    return "a directory";
  }
  if (S_ISFIFO(mode)) {
    return "a FIFO";
  }
  if (S_ISCHR(mode)) {
    return "a character device";
  }
  if (S_ISBLK(mode)) {
    return "a block device";
  }
  if (S_ISSOCK(mode)) {
    return "a socket";
  }
  return "not a regular file";
}

// Each open file holds a descriptor; a dataset of many shards can pass the soft limit (often 1024)
// long before the hard one, so the soft limit is raised to the hard one when it runs out.
bool raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) {
    return false;
  }
  limit.rlim_cur = limit.rlim_max;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// O_NONBLOCK so that a FIFO named by mistake is refused below instead of blocking the open until a
// writer appears; it has no effect on a regular file's reads.
int open_nonblocking(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == EMFILE && raise_descriptor_limit()) {
    fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  }
  return fd;
}

// Reads up to `size` bytes at `offset`; fewer only where the file ends first. Throws on an I/O error.
uint64_t read_at(int fd, uint64_t offset, void* dst, uint64_t size, const std::string& what) {
  auto* out = static_cast<uint8_t*>(dst);
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    TORCH_CHECK(n >= 0, what, ": read failed: ", errno_text());
    if (n == 0) {
      break;
    }
    done += static_cast<uint64_t>(n);
  }
  return done;
}

// Builds the header's JSON through nlohmann's DOM builder, refusing on the way, before the offending
// value is built, what no header holds: a header that is an array, a container nested deeper than
// three levels, an entry that is not an object, a tensor field other than the three, a container
// inside __metadata__ or a tensor field, and an array of more than kMaxArrayItems (a shape's rank;
// data_offsets holds 2). So a hostile header costs about what a valid one of its length does. (The
// parser's callback interface would do the same, but it rescans a parent object at each child's end,
// which is quadratic in the number of tensors.) The full checks follow the parse.
class HeaderSax {
 public:
  using Json = nlohmann::json;
  HeaderSax(Json& out, const std::string& where) : dom_(out, /*allow_exceptions=*/false), where_(where) {}

  bool null() {
    return value("null") && dom_.null();
  }
  bool boolean(bool v) {
    return value("boolean") && dom_.boolean(v);
  }
  bool number_integer(Json::number_integer_t v) {
    return value("number") && dom_.number_integer(v);
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    return value("number") && dom_.number_unsigned(v);
  }
  bool number_float(Json::number_float_t v, const Json::string_t& text) {
    return value("number") && dom_.number_float(v, text);
  }
  bool string(Json::string_t& v) {
    return value("string") && dom_.string(v);
  }
  bool binary(Json::binary_t& v) {
    return value("binary") && dom_.binary(v);
  }
  bool start_object(std::size_t n) {
    open(/*array=*/false);
    return dom_.start_object(n);
  }
  bool start_array(std::size_t n) {
    open(/*array=*/true);
    return dom_.start_array(n);
  }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool key(Json::string_t& k) {
    (depth_ == 1 ? entry_ : field_) = k;
    // The DOM keeps the last of two equal keys; a writer that repeats one is broken, so neither value is trusted.
    if (depth_ == 1) {
      TORCH_CHECK(entries_.insert(k).second, where_, ": '", k, "' is given twice in the header");
    } else if (depth_ == 2 && !fields_.insert(k).second) {
      TORCH_CHECK(!metadata(), where_, ": '__metadata__' key '", k, "' is given twice");
      TORCH_CHECK(false, where_, ": tensor '", entry_, "': field '", k, "' is given twice");
    }
    TORCH_CHECK(
        depth_ != 2 || metadata() || field_ == "dtype" || field_ == "shape" || field_ == "data_offsets",
        where_,
        ": tensor '",
        entry_,
        "': unexpected field '",
        field_,
        "' (expected exactly dtype, shape, data_offsets)");
    return dom_.key(k);
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& e) {
    return dom_.parse_error(position, token, e);
  }

 private:
  static constexpr int kMaxDepth = 3;
  static constexpr int64_t kMaxArrayItems = 64;

  bool metadata() const {
    return entry_ == "__metadata__";
  }
  // A container opens at depth_ (the containers around it).
  void open(bool array) {
    const char* kind = array ? "an array" : "an object";
    TORCH_CHECK(depth_ > 0 || !array, where_, ": header is not a JSON object but array");
    TORCH_CHECK(
        depth_ < kMaxDepth, where_, ": header nests deeper than the ", kMaxDepth, " levels a safetensors header has");
    if (depth_ == 1 && array) {
      refuse_entry("array");
    }
    if (depth_ == 2 && (!array || metadata())) {
      TORCH_CHECK(!metadata(), where_, ": '__metadata__' key '", field_, "' must be a string, got ", kind);
      TORCH_CHECK(false, where_, ": tensor '", entry_, "': '", field_, "' cannot be ", kind);
    }
    if (depth_ == 1) {
      fields_.clear();
    }
    items_ = 0;
    ++depth_;
  }
  // A scalar at depth_.
  bool value(const char* kind) {
    if (depth_ == 1) {
      refuse_entry(kind);
    }
    TORCH_CHECK(
        depth_ != 3 || ++items_ <= kMaxArrayItems,
        where_,
        ": tensor '",
        entry_,
        "': '",
        field_,
        "' holds more than ",
        kMaxArrayItems,
        " items");
    return true;
  }
  void refuse_entry(const char* kind) const {
    TORCH_CHECK(!metadata(), where_, ": '__metadata__' must be an object of strings, got ", kind);
    TORCH_CHECK(false, where_, ": tensor '", entry_, "': expected an object, got ", kind);
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  const std::string& where_;
  int depth_ = 0;                          // containers open around the next event
  std::string entry_, field_;              // the keys at depths 1 and 2 being parsed
  std::set<std::string> entries_, fields_; // the keys seen at depth 1, and at depth 2 in the current entry
  int64_t items_ = 0;                      // in the array being parsed
};

nlohmann::json parse_header(const std::string& text, const std::string& where) {
  nlohmann::json header;
  HeaderSax sax(header, where);
  const bool ok = nlohmann::json::sax_parse(text, &sax);
  TORCH_CHECK(ok && !header.is_discarded(), where, ": header is not valid JSON");
  TORCH_CHECK(header.is_object(), where, ": header is not a JSON object but ", header.type_name());
  return header;
}

void check_fields(const nlohmann::json& entry, const std::string& at_key) {
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
}

void read_dtype(const nlohmann::json& dtype, const std::string& at_key, TensorInfo& info) {
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
}

// Fills info.shape and returns the byte size, computed in 64 bits with an overflow check: a crafted
// shape could otherwise wrap around and match a small byte range.
uint64_t read_shape(const nlohmann::json& shape, const std::string& at_key, TensorInfo& info) {
  TORCH_CHECK(shape.is_array(), at_key, ": 'shape' must be an array, got ", shape.type_name());
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
  if (std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end()) {
    return 0; // an empty tensor: no overflow whatever the other dimensions
  }
  TORCH_CHECK(!overflow, at_key, ": shape ", shape.dump(), " is too large (byte size overflows 64 bits)");
  return nbytes;
}

void read_offsets(
    const nlohmann::json& offsets, const std::string& at_key, uint64_t nbytes, uint64_t data_size, TensorInfo& info) {
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
      c10::IntArrayRef(info.shape),
      " need ",
      nbytes);
}

TensorInfo read_entry(const nlohmann::json& entry, const std::string& at_key, uint64_t data_size) {
  check_fields(entry, at_key);
  TensorInfo info;
  read_dtype(entry.at("dtype"), at_key, info);
  const uint64_t nbytes = read_shape(entry.at("shape"), at_key, info);
  read_offsets(entry.at("data_offsets"), at_key, nbytes, data_size, info);
  return info;
}

// The tensors must tile the data section exactly, as the reference requires: in offset order each
// starts where the one before ends (no gap, no overlap, empty tensors included) and the last ends
// at the end of the file. Bytes no tensor owns are either corruption or hidden content.
void check_tiling(const std::map<std::string, TensorInfo>& tensors, uint64_t data_size, const std::string& where) {
  std::vector<std::pair<const std::string*, const TensorInfo*>> order;
  for (const auto& [name, info] : tensors) {
    order.emplace_back(&name, &info);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.second->begin, a.second->end) < std::make_pair(b.second->begin, b.second->end);
  });
  const std::string* prev = nullptr;
  uint64_t covered = 0;
  for (const auto& [name, info] : order) {
    TORCH_CHECK(
        info->begin <= covered,
        where,
        ": tensor '",
        *name,
        "' starts at data offset ",
        info->begin,
        " but ",
        prev ? "tensor '" + *prev + "' ends" : std::string("the data section starts"),
        " at ",
        covered,
        ": the data section has a gap");
    TORCH_CHECK(
        info->begin == covered,
        where,
        ": tensors '",
        *prev,
        "' [",
        tensors.at(*prev).begin,
        ", ",
        covered,
        ") and '",
        *name,
        "' [",
        info->begin,
        ", ",
        info->end,
        ") overlap in the data section");
    covered = info->end;
    prev = name;
  }
  TORCH_CHECK(
      covered == data_size,
      where,
      ": ",
      data_size - covered,
      " trailing bytes: the tensors end at data offset ",
      covered,
      " of a ",
      data_size,
      "-byte data section");
}

} // namespace

// Owns the descriptor; copies of a SafetensorsFile share it.
struct SafetensorsFile::Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) {
      close(fd);
    }
  }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const std::string where = "safetensors file '" + path + "'";
  auto descriptor = std::make_shared<Descriptor>();
  descriptor->fd = open_nonblocking(path);
  TORCH_CHECK(descriptor->fd >= 0, where, ": cannot open: ", errno_text());
  descriptor_ = descriptor;
  struct stat st {};
  TORCH_CHECK(fstat(descriptor->fd, &st) == 0, where, ": cannot stat: ", errno_text());
  TORCH_CHECK(S_ISREG(st.st_mode), where, ": ", file_kind(st.st_mode), ", not a regular file");
  const int flags = fcntl(descriptor->fd, F_GETFL);
  TORCH_CHECK(flags >= 0 && fcntl(descriptor->fd, F_SETFL, flags & ~O_NONBLOCK) == 0, where, ": fcntl: ", errno_text());

  const auto file_size = static_cast<uint64_t>(st.st_size);
  uint64_t header_len = 0;
  TORCH_CHECK(
      read_at(descriptor->fd, 0, &header_len, 8, where) == 8, // little-endian host (checked above)
      where,
      ": truncated: the file is ",
      file_size,
      " bytes, shorter than the 8-byte header length");
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
  std::string text(header_len, '\0');
  TORCH_CHECK(
      read_at(descriptor->fd, 8, text.data(), header_len, where) == header_len,
      where,
      ": the file shrank while its header was read");
  data_offset_ = 8 + header_len;
  const uint64_t data_size = file_size - data_offset_;

  const nlohmann::json header = parse_header(text, where);
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      TORCH_CHECK(entry.is_object(), where, ": '__metadata__' must be an object of strings, got ", entry.type_name());
      for (const auto& [k, v] : entry.items()) {
        TORCH_CHECK(v.is_string(), where, ": '__metadata__' key '", k, "' must be a string, got ", v.type_name());
        metadata_.emplace(k, v.get<std::string>());
      }
      continue;
    }
    tensors_.emplace(name, read_entry(entry, where + ": tensor '" + name + "'", data_size));
  }
  check_tiling(tensors_, data_size, where);
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
  at::Tensor out = at::empty(ti.shape, at::TensorOptions().dtype(ti.dtype).device(at::kCPU));
  read_bytes(name, ti.begin, out.data_ptr(), ti.end - ti.begin);
  return out;
}

at::Tensor SafetensorsFile::row(const std::string& name, int64_t i) const {
  const TensorInfo& ti = info(name);
  TORCH_CHECK(
      !ti.shape.empty() && i >= 0 && i < ti.shape[0],
      "safetensors file '",
      path_,
      "': tensor '",
      name,
      "' of shape ",
      c10::IntArrayRef(ti.shape),
      " has no row ",
      i);
  const std::vector<int64_t> row_shape(ti.shape.begin() + 1, ti.shape.end());
  at::Tensor out = at::empty(row_shape, at::TensorOptions().dtype(ti.dtype).device(at::kCPU));
  const uint64_t row_bytes = (ti.end - ti.begin) / static_cast<uint64_t>(ti.shape[0]);
  read_bytes(name, ti.begin + row_bytes * static_cast<uint64_t>(i), out.data_ptr(), row_bytes);
  return out;
}

// A file truncated after it was opened gives a short read here, never a fault: the bytes are read
// with pread, not through a mapping that could lose its pages.
void SafetensorsFile::read_bytes(const std::string& name, uint64_t begin, void* dst, uint64_t size) const {
  if (size == 0) {
    return;
  }
  const std::string what = "safetensors file '" + path_ + "': tensor '" + name + "'";
  const uint64_t got = read_at(descriptor_->fd, data_offset_ + begin, dst, size, what);
  struct stat st {};
  TORCH_CHECK(
      got == size,
      what,
      ": the file ends at byte ",
      fstat(descriptor_->fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : data_offset_ + begin + got,
      ", before the tensor's bytes [",
      data_offset_ + begin,
      ", ",
      data_offset_ + begin + size,
      "): it was truncated after it was opened");
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
