// Tests of the safetensors reader and writer (csrc/io): round trips of every dtype, tensors read into
// memory of their own, the atomic writes (safetensors and text), byte-for-byte interop with files from the
// Python reference writer (embedded below, so no Python runs here), a table of corrupt files that must
// each be rejected with an error naming the problem, and files that are no regular files or change
// under the reader.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <torch/torch.h>

#include "catch.h"
#include "error_of.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "temp_dir.h"

namespace arl2::test {
namespace {

using arl2::io::SafetensorsFile;
using arl2::io::save_safetensors;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with the given header text (unpadded) and `data_size` zero bytes of data.
std::string raw_file(const std::string& header, size_t data_size, uint64_t header_len) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  }
  return out + header + std::string(data_size, '\0');
}
std::string raw_file(const std::string& header, size_t data_size) {
  return raw_file(header, data_size, header.size());
}

std::string open_error(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

std::string repeat(const std::string& unit, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) {
    out += unit;
  }
  return out;
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Written by the Python reference (safetensors 0.x):
//   save_file({"b": tensor([1.5, -2.0], f16), "a": arange(3, i32), "c": tensor([True, False])},
//             path, metadata={"format": "pt"})
// It sorts tensors by alignment, then name, so the order is a, b, c.
const std::string kReferenceHeader =
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"I32","shape":[3],"data_offsets":[0,12]},)"
    R"("b":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},"c":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]}})"
    "   ";
const unsigned char kReferenceData[] = {
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x3e, 0x00, 0xc0, 0x01, 0x00};
std::string reference_file() {
  std::string out = raw_file(kReferenceHeader, 0);
  REQUIRE(out.size() == 208); // 8 + 200: the header length 0xc8
  return out + std::string(reinterpret_cast<const char*>(kReferenceData), sizeof(kReferenceData));
}

} // namespace

TEST_CASE("safetensors round-trips every dtype including 0-d and empty tensors", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  const auto base = torch::randn({2, 3}, torch::kFloat64) * 50;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f64", base},
      {"f32", base.to(torch::kFloat32)},
      {"f16", base.to(torch::kFloat16)},
      {"bf16", base.to(torch::kBFloat16)},
      {"i64", base.to(torch::kInt64)},
      {"i32", base.to(torch::kInt32)},
      {"i16", base.to(torch::kInt16)},
      {"i8", base.clamp(-128, 127).to(torch::kInt8)},
      {"u8", base.abs().clamp(0, 255).to(torch::kUInt8)},
      {"bool", base > 0},
      {"scalar", torch::tensor(3.25, torch::kFloat32)},
      {"empty", torch::empty({0, 4}, torch::kFloat32)},
      {"transposed", base.to(torch::kFloat32).t()}, // non-contiguous: stored as a contiguous copy
  };
  save_safetensors(path, tensors);
  CHECK(dir.listing() == std::vector<std::string>{"all.safetensors"});

  SafetensorsFile f(path);
  auto expected_keys = std::vector<std::string>();
  for (const auto& [name, t] : tensors) {
    expected_keys.push_back(name);
  }
  std::sort(expected_keys.begin(), expected_keys.end());
  CHECK(f.keys() == expected_keys);
  CHECK(f.metadata().empty());
  CHECK_FALSE(f.contains("missing"));
  for (const auto& [name, t] : tensors) {
    INFO("tensor " << name);
    REQUIRE(f.contains(name));
    CHECK(f.info(name).dtype == t.scalar_type());
    CHECK(f.info(name).shape == t.sizes().vec());
    const auto got = f.tensor(name);
    CHECK(got.scalar_type() == t.scalar_type());
    CHECK(got.sizes() == t.sizes());
    CHECK(got.is_contiguous());
    CHECK(torch::equal(got, t));
  }
  CHECK(f.info("scalar").shape.empty());
  CHECK(f.info("f16").dtype_name == "F16");
  CHECK(f.info("bf16").dtype_name == "BF16");
  CHECK(f.info("bool").dtype_name == "BOOL");
  CHECK(has(error_of([&] { f.tensor("nope"); }), "no tensor named 'nope'"));
}

TEST_CASE("safetensors round-trips metadata", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "1200"}, {"note", "a \"quoted\" é"}};
  save_safetensors(path, {{"w", torch::ones({2})}}, meta);
  SafetensorsFile f(path);
  CHECK(f.metadata() == meta);
  CHECK(f.keys() == std::vector<std::string>{"w"});
}

TEST_CASE("safetensors tensors are read into memory of their own", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("own.safetensors");
  const auto a = torch::arange(16, torch::kFloat32).reshape({4, 4}), b = torch::arange(8, torch::kInt64);
  save_safetensors(path, {{"a", a}, {"b", b}});
  at::Tensor va, row;
  {
    SafetensorsFile f(path);
    va = f.tensor("a");
    row = f.row("a", 2);
    CHECK(f.row("b", 7).dim() == 0);
    CHECK(f.row("b", 7).item<int64_t>() == 7);
    CHECK(has(error_of([&] { f.row("a", 4); }), "tensor 'a' of shape [4, 4] has no row 4"));
    CHECK(has(error_of([&] { f.row("a", -1); }), "has no row -1"));
  }
  // Both outlive the file object and can be written to without touching the file.
  CHECK(torch::equal(va, a));
  CHECK(torch::equal(row, a[2]));
  va.add_(1);
  CHECK(torch::equal(SafetensorsFile(path).tensor("a"), a));
}

TEST_CASE("safetensors keeps each dtype as the file spells it", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("ints.safetensors");
  // 1.08e9 is what these int32 values would read as if their bits were taken for float32.
  const auto ints = torch::tensor({1065353216, -1082130432}, torch::kInt32);
  save_safetensors(path, {{"A_log", ints}});
  const SafetensorsFile f(path);
  CHECK(f.info("A_log").dtype_name == "I32");
  CHECK(f.tensor("A_log").scalar_type() == torch::kInt32);
  CHECK(torch::equal(f.tensor("A_log"), ints));
  CHECK(f.row("A_log", 1).scalar_type() == torch::kInt32);
}

TEST_CASE("safetensors reads a tensor whose bytes are misaligned into aligned memory", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("odd.safetensors");
  const auto flags = torch::tensor({true, false, true}), x = torch::randn({5}, torch::kFloat64);
  save_safetensors(path, {{"flags", flags}, {"x", x}}); // x starts at data offset 3
  SafetensorsFile f(path);
  CHECK(f.info("x").begin == 3);
  const auto got = f.tensor("x");
  CHECK(reinterpret_cast<uintptr_t>(got.data_ptr()) % 8 == 0);
  CHECK(torch::equal(got, x));
  CHECK(torch::equal(f.tensor("flags"), flags));
}

TEST_CASE("safetensors reads and writes the reference implementation's bytes", "[safetensors]") {
  TempDir dir;
  const std::string ref_path = dir.file("reference.safetensors");
  write_bytes(ref_path, reference_file());
  const auto a = torch::arange(3, torch::kInt32);
  const auto b = torch::tensor({1.5, -2.0}, torch::kFloat16);
  const auto c = torch::tensor({true, false});

  SafetensorsFile f(ref_path);
  CHECK(f.keys() == std::vector<std::string>{"a", "b", "c"});
  CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
  CHECK(torch::equal(f.tensor("a"), a));
  CHECK(torch::equal(f.tensor("b"), b));
  CHECK(torch::equal(f.tensor("c"), c));

  const std::string out_path = dir.file("ours.safetensors");
  save_safetensors(out_path, {{"a", a}, {"b", b}, {"c", c}}, {{"format", "pt"}});
  CHECK(read_bytes(out_path) == reference_file());
}

TEST_CASE("safetensors writes atomically and leaves the old file on failure", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"old", torch::ones({4})}});
  const std::string before = read_bytes(path);
  const std::vector<std::string> only_old = {"ckpt.safetensors"};

  SECTION("the directory does not exist") {
    const auto err = error_of([&] {
      save_safetensors(dir.file("no/such/dir.safetensors"), {{"x", torch::ones({1})}});
    });
    CHECK(has(err, "cannot create"));
    CHECK(has(err, "no/such/dir.safetensors.tmp."));
  }
  SECTION("a dtype the format cannot store") {
    const auto err = error_of([&] {
      save_safetensors(path, {{"ok", torch::ones({2})}, {"z", torch::ones({2}, torch::kComplexFloat)}});
    });
    CHECK(has(err, "tensor 'z' has dtype"));
    CHECK(has(err, "cannot store"));
  }
  SECTION("duplicate and reserved names") {
    CHECK(
        has(error_of([&] {
              save_safetensors(path, {{"w", torch::ones({1})}, {"w", torch::zeros({1})}});
            }),
            "duplicate tensor name 'w'"));
    CHECK(has(error_of([&] { save_safetensors(path, {{"__metadata__", torch::ones({1})}}); }), "reserved"));
    CHECK(has(error_of([&] { save_safetensors(path, {{"u", at::Tensor()}}); }), "tensor 'u' is undefined"));
  }
  SECTION("a write that fails midway (file size limit)") {
    // RLIMIT_FSIZE makes write() fail with EFBIG once the temp file reaches 4 KiB; SIGXFSZ would
    // otherwise kill the test process.
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit old_limit{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    rlimit small = old_limit;
    small.rlim_cur = 4096;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    const auto err = error_of([&] { save_safetensors(path, {{"big", torch::zeros({1 << 16})}}); });
    setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    CHECK(has(err, "write to"));
    CHECK(has(err, "failed"));
  }
  CHECK(dir.listing() == only_old);
  CHECK(read_bytes(path) == before);
  CHECK(torch::equal(SafetensorsFile(path).tensor("old"), torch::ones({4})));
}

TEST_CASE("a text file is replaced whole, and a failed write leaves nothing behind", "[io]") {
  TempDir dir;
  const std::string path = dir.file("config.yaml");
  io::write_file_atomically(path, "old: 1\n");
  io::write_file_atomically(path, "new: 2\n");
  CHECK(read_bytes(path) == "new: 2\n");
  const auto err = error_of([&] { io::write_file_atomically(dir.file("no/such/dir.yaml"), "x"); });
  CHECK(has(err, "write_file_atomically: cannot create"));
  CHECK(has(err, "no/such/dir.yaml.tmp."));
  CHECK(dir.listing() == std::vector<std::string>{"config.yaml"});
}

TEST_CASE("safetensors rejects corrupt files with a message naming the problem", "[safetensors][errors]") {
  TempDir dir;
  const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  struct Case {
    std::string name, bytes, expected;
  };
  const std::vector<Case> cases = {
      {"empty file", "", "truncated"},
      {"truncated length", std::string(5, '\0'), "truncated"},
      {"truncated data", raw_file(ok, 4), "'data_offsets' end 8 is past the end of the data section (4 bytes)"},
      {"header length past the end", raw_file(ok, 8, 1000), "header length 1000 runs past the end of the file"},
      {"header length over the limit", raw_file(ok, 8, 200'000'000), "exceeds the limit"},
      {"header not JSON", raw_file("{\"t\": {\"dtype\": \"F32\"", 0), "header is not valid JSON"},
      {"header not an object", raw_file("[1, 2]", 0), "header is not a JSON object"},
      {"entry not an object", raw_file(R"({"t": 3})", 0), "tensor 't': expected an object"},
      {"unknown dtype",
       raw_file(R"({"t":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2),
       "tensor 't': unknown dtype 'F8'"},
      {"dtype not a string",
       raw_file(R"({"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8),
       "'dtype' must be a string"},
      {"offsets past the end",
       raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 8),
       "tensor 't': 'data_offsets' end 16 is past the end of the data section (8 bytes)"},
      {"offsets reversed",
       raw_file(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "'data_offsets' begin 8 is after end 0"},
      {"offsets malformed",
       raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
       "'data_offsets' must be [begin, end]"},
      {"negative offset",
       raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
       "'data_offsets' must be [begin, end] with non-negative integers"},
      {"size mismatch",
       raw_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 12),
       "tensor 't': size mismatch: 'data_offsets' span 8 bytes but dtype F32 and shape [3] need 12"},
      {"shape overflows",
       raw_file(R"({"t":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
       "byte size overflows"},
      {"overlapping tensors",
       raw_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           12),
       "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
      {"gap between tensors",
       raw_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
           20),
       "tensor 'b' starts at data offset 12 but tensor 'a' ends at 8: the data section has a gap"},
      {"gap at the start",
       raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "tensor 't' starts at data offset 4 but the data section starts at 0: the data section has a gap"},
      {"empty tensor inside another",
       raw_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
           8),
       "tensors 'a' [0, 8) and 'e' [4, 4) overlap"},
      {"trailing bytes",
       raw_file(ok, 12),
       "4 trailing bytes: the tensors end at data offset 8 of a 12-byte data section"},
      {"trailing bytes and no tensor",
       raw_file(R"({"__metadata__":{"k":"v"}})", 3),
       "3 trailing bytes: the tensors end at data offset 0 of a 3-byte data section"},
      {"shape nested too deep",
       raw_file(R"({"t":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8),
       "header nests deeper than the 3 levels a safetensors header has"},
      {"nested brackets", raw_file(std::string(1000, '['), 0), "header is not a JSON object but array"},
      {"entry an array", raw_file(R"({"t":[1]})", 0), "tensor 't': expected an object, got array"},
      {"metadata nested",
       raw_file(R"({"__metadata__":{"k":["v"]}})", 0),
       "'__metadata__' key 'k' must be a string, got an array"},
      {"field an object",
       raw_file(R"({"t":{"dtype":"F32","shape":{},"data_offsets":[0,0]}})", 0),
       "tensor 't': 'shape' cannot be an object"},
      {"shape of 65 dims",
       raw_file(R"({"t":{"dtype":"F32","shape":[)" + repeat("1,", 64) + R"(1],"data_offsets":[0,4]}})", 4),
       "tensor 't': 'shape' holds more than 64 items"},
      {"negative dim",
       raw_file(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
       "tensor 't': 'shape[0]' is a negative dimension (-2)"},
      {"non-integer dim",
       raw_file(R"({"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
       "'shape[0]' must be an integer"},
      {"missing field",
       raw_file(R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", 8),
       "tensor 't': missing field 'shape'"},
      {"extra field",
       raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"stride":[1]}})", 8),
       "tensor 't': unexpected field 'stride'"},
      {"tensor given twice",
       raw_file(
           R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           8),
       "'t' is given twice in the header"},
      {"field given twice",
       raw_file(R"({"t":{"dtype":"F32","shape":[2],"dtype":"I32","data_offsets":[0,8]}})", 8),
       "tensor 't': field 'dtype' is given twice"},
      {"metadata key given twice",
       raw_file(R"({"__metadata__":{"k":"a","k":"b"}})", 0),
       "'__metadata__' key 'k' is given twice"},
      {"metadata given twice",
       raw_file(R"({"__metadata__":{},"__metadata__":{}})", 0),
       "'__metadata__' is given twice"},
      {"metadata not an object", raw_file(R"({"__metadata__":[1]})", 0), "'__metadata__' must be an object"},
      {"metadata value not a string",
       raw_file(R"({"__metadata__":{"step":12}})", 0),
       "'__metadata__' key 'step' must be a string"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    INFO("case: " << c.name);
    const std::string path = dir.file("corrupt" + std::to_string(i) + ".safetensors");
    write_bytes(path, c.bytes);
    const std::string err = open_error(path);
    INFO("error: " << err);
    CHECK(has(err, c.expected));
    CHECK(has(err, "safetensors file '" + path + "'"));
  }
  // The well-formed base case opens, so each failure above is due to its one defect.
  write_bytes(dir.file("ok.safetensors"), raw_file(ok, 8));
  CHECK(SafetensorsFile(dir.file("ok.safetensors")).info("t").shape == std::vector<int64_t>{2});
  CHECK(has(open_error(dir.file("absent.safetensors")), "cannot open"));
}

TEST_CASE("safetensors refuses a hostile header while parsing it", "[safetensors][errors]") {
  // Each is refused within its first bytes, so the time and memory do not grow with the header's size.
  TempDir dir;
  const std::string path = dir.file("hostile.safetensors");
  const size_t n = 4'000'000;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {repeat("[", n), "header is not a JSON object but array"},
      {R"({"t":{"shape":)" + repeat("[", n), "header nests deeper than the 3 levels"},
      {R"({"t":{"shape":[)" + repeat("0,", n), "tensor 't': 'shape' holds more than 64 items"},
      {R"({"t":[)" + repeat("{},", n), "tensor 't': expected an object, got array"},
      {R"({"t":{)" + repeat(R"("k":0,)", n), "tensor 't': unexpected field 'k'"},
  };
  for (const auto& [header, expected] : cases) {
    INFO(expected);
    write_bytes(path, raw_file(header, 0));
    CHECK(has(open_error(path), "safetensors file '" + path + "': " + expected));
  }
}

TEST_CASE("safetensors refuses what is not a regular file without blocking", "[safetensors][errors]") {
  TempDir dir;
  const std::string fifo = dir.file("ckpt.safetensors");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // No writer ever opens the FIFO: a blocking open would wait here forever.
  CHECK(has(open_error(fifo), "safetensors file '" + fifo + "': a FIFO, not a regular file"));
  CHECK(has(open_error(dir.path), "safetensors file '" + dir.path + "': a directory, not a regular file"));
  CHECK(has(open_error("/dev/null"), "safetensors file '/dev/null': a character device, not a regular file"));
}

TEST_CASE(
    "safetensors gives an error, not a crash, for a file truncated after it was opened", "[safetensors][errors]") {
  TempDir dir;
  const std::string path = dir.file("shard.safetensors");
  const auto latents = torch::randn({4, 1024});
  save_safetensors(path, {{"latents", latents}, {"text", torch::ones({4, 8})}});
  const SafetensorsFile f(path);
  const uint64_t data_start = read_bytes(path).size() - (4 * 1024 + 4 * 8) * 4;
  REQUIRE(truncate(path.c_str(), static_cast<off_t>(data_start + 4096 + 100)) == 0);
  CHECK(torch::equal(f.row("latents", 0), latents[0])); // the bytes still there read as before
  const auto err = error_of([&] { f.row("latents", 1); });
  CHECK(has(err, "safetensors file '" + path + "': tensor 'latents': the file ends at byte "));
  CHECK(has(err, "it was truncated after it was opened"));
  CHECK(has(error_of([&] { f.tensor("text"); }), "tensor 'text': the file ends at byte "));
  REQUIRE(truncate(path.c_str(), 0) == 0);
  CHECK(has(error_of([&] { f.tensor("latents"); }), "tensor 'latents': the file ends at byte 0, before"));
}

TEST_CASE("safetensors reads the file it opened when another is renamed over its path", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("shard.safetensors");
  save_safetensors(path, {{"x", torch::ones({3})}});
  const SafetensorsFile f(path);
  save_safetensors(path, {{"y", torch::zeros({5})}}); // written to a temp file and renamed over `path`
  CHECK(torch::equal(f.tensor("x"), torch::ones({3})));
  CHECK(SafetensorsFile(path).keys() == std::vector<std::string>{"y"});
}

TEST_CASE("inputs the fuzzer found are refused or read, never crash", "[safetensors]") {
  // scripts/fuzz.sh saves every input that crashed the reader here; each stays a regression test.
  const std::string dir = ARL2_SAFETENSORS_CRASHES_DIR;
  for (const auto& name : io::list_folder(dir)) {
    INFO(name);
    try {
      const SafetensorsFile file(dir + "/" + name);
      for (const auto& key : file.keys()) {
        CHECK(file.tensor(key).defined());
      }
    } catch (const c10::Error&) {
    }
  }
}

TEST_CASE("canonical_key strips the model. prefix and FSDP segments", "[safetensors][state_dict]") {
  using arl2::io::canonical_key;
  CHECK(canonical_key("blocks.0.self_attn.q.weight") == "blocks.0.self_attn.q.weight");
  CHECK(canonical_key("model.blocks.0.self_attn.q.weight") == "blocks.0.self_attn.q.weight");
  CHECK(canonical_key("model._fsdp_wrapped_module.blocks.0._fsdp_wrapped_module.ffn.0.bias") == "blocks.0.ffn.0.bias");
  CHECK(canonical_key("_fsdp_wrapped_module.head.head.weight") == "head.head.weight");
  CHECK(canonical_key("my_model.w") == "my_model.w");
}

TEST_CASE(
    "canonical_key maps the ARL2 authors' names: checkpoint wrappers and the FFN adapter's linear",
    "[safetensors][state_dict]") {
  using arl2::io::canonical_key;
  CHECK(
      canonical_key(
          "model._fsdp_wrapped_module.blocks.3._fsdp_wrapped_module._checkpoint_wrapped_module.self_attn.A_log") ==
      "blocks.3.self_attn.A_log");
  CHECK(canonical_key("_fsdp_wrapped_module.model.blocks.0.norm3.weight") == "blocks.0.norm3.weight");
  CHECK(canonical_key("model.blocks.12.ffn.0.linear.weight") == "blocks.12.ffn.0.weight");
  CHECK(canonical_key("model.blocks.12.ffn.2.linear.bias") == "blocks.12.ffn.2.bias");
  CHECK(canonical_key("model.blocks.12.ffn.2.lora_B") == "blocks.12.ffn.2.lora_B");
  CHECK(canonical_key("blocks.0._checkpoint_wrapped_module.ffn.0.linear.weight") == "blocks.0.ffn.0.weight");
  // Only an FFN's indexed child drops `linear`, and a parameter's own name is never dropped.
  CHECK(canonical_key("head.linear.weight") == "head.linear.weight");
  CHECK(canonical_key("blocks.0.ffn.linear.weight") == "blocks.0.ffn.linear.weight");
  CHECK(canonical_key("blocks.0.ffn.0.linear") == "blocks.0.ffn.0.linear");
  CHECK(canonical_key("a._checkpoint_wrapped_module") == "a._checkpoint_wrapped_module");
  CHECK(canonical_key("model") == "model");
}

TEST_CASE("load_state_dict matches by canonical name and reports mismatches by name", "[safetensors][state_dict]") {
  TempDir dir;
  const auto w = torch::randn({4, 3}), b = torch::randn({4}), extra = torch::randn({2});
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(
      path,
      {{"model._fsdp_wrapped_module.blocks.0.q.weight", w},
       {"model.blocks.0.q.bias", b},
       {"model.text_embedding.extra", extra}});
  const SafetensorsFile file(path);

  const arl2::io::ShapeMap model = {{"blocks.0.q.weight", {4, 3}}, {"blocks.0.q.bias", {4}}};
  arl2::io::StateDictReport report;
  const auto loaded = arl2::io::load_state_dict(file, model, &report);
  CHECK(torch::equal(loaded.at("blocks.0.q.weight"), w));
  CHECK(torch::equal(loaded.at("blocks.0.q.bias"), b));
  CHECK(report.unexpected == std::vector<std::string>{"model.text_embedding.extra"});
  CHECK(report.missing.empty());

  const arl2::io::ShapeMap other = {{"blocks.0.q.weight", {3, 4}}, {"blocks.0.k.weight", {4, 3}}};
  std::string message;
  try {
    arl2::io::load_state_dict(file, other);
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  }
  CHECK(has(message, path));
  CHECK(has(message, "1 missing:\n    blocks.0.k.weight"));
  CHECK(has(message, "blocks.0.q.weight: expected [3, 4], got [4, 3]"));
  CHECK(has(message, "2 unexpected:"));
}

TEST_CASE("load_state_dict refuses two tensors with one canonical name", "[safetensors][state_dict]") {
  TempDir dir;
  const std::string path = dir.file("dup.safetensors");
  save_safetensors(path, {{"model.w", torch::ones({1})}, {"w", torch::ones({1})}});
  std::string message;
  try {
    arl2::io::load_state_dict(SafetensorsFile(path), {{"w", {1}}});
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  }
  CHECK(has(message, "both load as 'w'"));
}

} // namespace arl2::test
