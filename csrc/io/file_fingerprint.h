// A cheap identity for a large weights file, so that a checkpoint can say which base weights it was
// trained on and a later load can tell whether it has the same file. Hashing a whole 1.3B model (2.8 GB
// in bfloat16, 5.7 GB in float32) would cost seconds to minutes on every resume, export and generate;
// instead the fingerprint covers the file's size, its first 1 MiB (a safetensors header with every
// name, dtype, shape and offset, and the first tensors) and 256 chunks of 64 KiB spread evenly over
// the rest: 17 MiB read, tens of milliseconds. Two different checkpoints of one architecture share the
// header but differ in nearly every chunk, so they are told apart; what it can miss is an edit confined
// to a small part of the file (a change to 2% of the bytes escapes all 256 chunks with probability
// 0.98^256, under 1%). It guards against the wrong file, not against tampering.
#pragma once

#include <string>

namespace arl2::io {

// "v1:<size in bytes>:<FNV-1a 64 of the sampled bytes, 16 hex digits>". Throws naming `path` when it
// cannot be read.
std::string file_fingerprint(const std::string& path);

} // namespace arl2::io
