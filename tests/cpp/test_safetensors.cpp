// Tests of the safetensors reader and writer (csrc/io): round trips of every dtype, zero-copy views,
// the atomic writes (safetensors and text), byte-for-byte interop with files from the Python reference writer (embedded
// below, so no Python runs here), and a table of corrupt files that must each be rejected with an
// error naming the problem.
#include <algorithm>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
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

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The address range of the mappings of `path` in this process, from /proc/self/maps.
bool mapped_from(const void* p, const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return false;
  }
  const std::string canonical = resolved;
  while (std::getline(maps, line)) {
    if (line.size() < canonical.size() || line.compare(line.size() - canonical.size(), canonical.size(), canonical)) {
      continue;
    }
    std::istringstream is(line);
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    is >> std::hex >> lo >> dash >> hi;
    if (addr >= lo && addr < hi) {
      return true;
    }
  }
  return false;
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

TEST_CASE("safetensors tensors view the mapped file without copying", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("view.safetensors");
  const auto a = torch::arange(16, torch::kFloat32), b = torch::arange(8, torch::kInt64);
  save_safetensors(path, {{"a", a}, {"b", b}});
  at::Tensor va, vb;
  {
    SafetensorsFile f(path);
    va = f.tensor("a");
    vb = f.tensor("b");
    CHECK(mapped_from(va.data_ptr(), path));
    CHECK(mapped_from(vb.data_ptr(), path));
    // Both view one buffer: their addresses differ by the byte offset in the file.
    CHECK(static_cast<char*>(vb.data_ptr()) - static_cast<char*>(va.data_ptr()) == 64);
  }
  // The views keep the mapping alive after the file object is gone.
  CHECK(torch::equal(va, a));
  CHECK(torch::equal(vb, b));
  CHECK(mapped_from(va.data_ptr(), path));
  const auto ptr = va.data_ptr();
  va = at::Tensor();
  CHECK(mapped_from(vb.data_ptr(), path));
  vb = at::Tensor();
  CHECK_FALSE(mapped_from(ptr, path)); // the last view released the mapping
}

TEST_CASE("safetensors copies a tensor whose bytes are misaligned", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("odd.safetensors");
  const auto flags = torch::tensor({true, false, true}), x = torch::randn({5}, torch::kFloat64);
  save_safetensors(path, {{"flags", flags}, {"x", x}}); // x starts at data offset 3
  SafetensorsFile f(path);
  CHECK(f.info("x").begin == 3);
  const auto got = f.tensor("x");
  CHECK(reinterpret_cast<uintptr_t>(got.data_ptr()) % 8 == 0);
  CHECK_FALSE(mapped_from(got.data_ptr(), path));
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
      {"header not JSON", raw_file("{\"t\": [1, 2", 0), "header is not valid JSON"},
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
