// encode_png (see png.h), after the PNG specification (ISO/IEC 15948) and RFC 1950/1951 for the zlib stream.
#include "io/png.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::io {
namespace {

// The largest block deflate can store uncompressed.
constexpr size_t kStoredBlock = 65535;

uint32_t crc32(const std::string& bytes, size_t begin) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) {
        c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      }
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = begin; i < bytes.size(); ++i) {
    c = table[(c ^ static_cast<uint8_t>(bytes[i])) & 0xFF] ^ (c >> 8);
  }
  return c ^ 0xFFFFFFFFu;
}

uint32_t adler32(const std::string& bytes) {
  uint32_t a = 1, b = 0;
  for (const char ch : bytes) {
    a = (a + static_cast<uint8_t>(ch)) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

void put_u32_big_endian(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

// A chunk: length, type, data, and the CRC of type and data.
void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32_big_endian(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out += type;
  out += data;
  put_u32_big_endian(out, crc32(out, start));
}

// A zlib stream holding `raw` in stored blocks.
std::string zlib_stored(const std::string& raw) {
  std::string z = {'\x78', '\x01'}; // deflate, 32K window, no dictionary; 0x7801 is a multiple of 31
  size_t pos = 0;
  do {
    const size_t n = std::min(kStoredBlock, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z.push_back(last ? '\x01' : '\x00');
    const auto len = static_cast<uint16_t>(n);
    for (const uint16_t v : {len, static_cast<uint16_t>(~len)}) {
      z.push_back(static_cast<char>(v & 0xFF));
      z.push_back(static_cast<char>(v >> 8));
    }
    z.append(raw, pos, n);
    pos += n;
  } while (pos < raw.size());
  put_u32_big_endian(z, adler32(raw));
  return z;
}

} // namespace

std::string encode_png(const at::Tensor& rgb) {
  TORCH_CHECK(
      rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == at::kByte && rgb.size(0) > 0 && rgb.size(1) > 0,
      "PNG: expected a uint8 [H, W, 3] image, got ",
      rgb.scalar_type(),
      " ",
      rgb.sizes());
  const auto pixels = rgb.cpu().contiguous();
  const int64_t height = pixels.size(0), width = pixels.size(1);
  const auto* data = reinterpret_cast<const char*>(pixels.data_ptr<uint8_t>());
  // Each row is preceded by its filter type, 0 (none).
  std::string raw;
  raw.reserve(static_cast<size_t>(height * (1 + 3 * width)));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back('\0');
    raw.append(data + y * 3 * width, static_cast<size_t>(3 * width));
  }
  std::string header;
  put_u32_big_endian(header, static_cast<uint32_t>(width));
  put_u32_big_endian(header, static_cast<uint32_t>(height));
  header += std::string{'\x08', '\x02', '\x00', '\x00', '\x00'}; // 8 bits, RGB, deflate, filter 0, no interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", zlib_stored(raw));
  put_chunk(png, "IEND", "");
  return png;
}

} // namespace arl2::io
