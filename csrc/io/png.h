// PNG encoding with no library: 8-bit RGB, the image data in stored (uncompressed) deflate blocks. The files are
// larger than a compressor would make them, which is fine for the small previews they serve.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace arl2::io {

// The bytes of a PNG file showing `rgb`, a uint8 [H, W, 3] tensor.
std::string encode_png(const at::Tensor& rgb);

} // namespace arl2::io
