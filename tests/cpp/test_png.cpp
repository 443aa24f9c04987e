// The PNG encoder (csrc/io/png.h): a small image byte for byte as Python's zlib (level 0) and struct write it, and
// a large one whose image data spans several stored deflate blocks, read back block by block.
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "catch.h"
#include "io/png.h"

namespace arl2::test {
namespace {

uint32_t big_endian_u32(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  }
  return v;
}

TEST_CASE("a small PNG is byte for byte the reference's", "[io][png]") {
  // A red pixel and a half-green, blue one. The expected bytes come from Python:
  //   raw = b"\0" + bytes([255, 0, 0, 0, 128, 255]); chunks with zlib.crc32; IDAT = zlib.compress(raw, 0)
  const auto rgb = torch::tensor({255, 0, 0, 0, 128, 255}, torch::kByte).reshape({1, 2, 3});
  const std::string expected(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x01\x08\x02\x00"
      "\x00\x00\x7b\x40\xe8\xdd\x00\x00\x00\x12\x49\x44\x41\x54\x78\x01\x01\x07\x00\xf8\xff\x00\xff\x00\x00\x00\x80"
      "\xff\x08\x00\x02\x7f\xd5\x70\x6e\xaa\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82",
      75);
  CHECK(io::encode_png(rgb) == expected);
}

TEST_CASE("a large PNG's image data spans several stored blocks", "[io][png]") {
  const int64_t height = 150, width = 200; // 150 rows of 601 bytes: two blocks of at most 65535
  const auto rgb = torch::arange(height * width * 3).remainder(251).to(torch::kByte).reshape({height, width, 3});
  const auto png = io::encode_png(rgb);
  CHECK(big_endian_u32(png, 16) == width);
  CHECK(big_endian_u32(png, 20) == height);
  const size_t idat = 8 + 25; // signature, IHDR chunk
  REQUIRE(png.compare(idat + 4, 4, "IDAT") == 0);
  const uint32_t length = big_endian_u32(png, idat);
  const std::string zlib = png.substr(idat + 8, length);
  std::string raw;
  size_t pos = 2, blocks = 0;
  for (bool last = false; !last; ++blocks) {
    last = zlib[pos] == '\x01';
    const auto len =
        static_cast<size_t>(static_cast<uint8_t>(zlib[pos + 1]) | static_cast<uint8_t>(zlib[pos + 2]) << 8);
    raw += zlib.substr(pos + 5, len);
    pos += 5 + len;
  }
  CHECK(blocks == 2);
  CHECK(pos + 4 == zlib.size()); // then the Adler-32
  REQUIRE(raw.size() == static_cast<size_t>(height * (1 + 3 * width)));
  const auto* pixels = rgb.data_ptr<uint8_t>();
  for (int64_t y = 0; y < height; ++y) {
    REQUIRE(raw[static_cast<size_t>(y * (1 + 3 * width))] == '\0');
    REQUIRE(
        raw.compare(
            static_cast<size_t>(y * (1 + 3 * width) + 1),
            static_cast<size_t>(3 * width),
            reinterpret_cast<const char*>(pixels + y * 3 * width),
            static_cast<size_t>(3 * width)) == 0);
  }
  CHECK(png.substr(png.size() - 8, 4) == "IEND");
}

TEST_CASE("PNG refuses what is not a uint8 RGB image", "[io][png][errors]") {
  CHECK_THROWS(io::encode_png(torch::zeros({4, 4, 3})));
  CHECK_THROWS(io::encode_png(torch::zeros({4, 4}, torch::kByte)));
  CHECK_THROWS(io::encode_png(torch::zeros({0, 4, 3}, torch::kByte)));
}

} // namespace
} // namespace arl2::test
