// Checks of the values a file brings in. Weights, checkpoints, prompts and clips are all floats, and one NaN
// among them turns every later output of a run into NaN without an error; an integer tensor where a float is
// meant would be converted and used as numbers it never held.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace arl2::io {

// Throws naming `file` and `name` unless `t` is floating point and every value is finite; the message
// counts the non-finite values and gives the first one's index.
void check_finite_floats(const at::Tensor& t, const std::string& file, const std::string& name);

class SafetensorsFile;

// Copies `file`'s tensor `key` into `into` once it is there (else throws `<file>: <missing>`), finite floats and
// of into's shape (else `<file>: '<key>' has shape [..], <expected>`, where `expected` states into's, e.g. "the
// run expects [7]"). Every loader of weights or checkpoints copies through it.
void copy_checked(
    const SafetensorsFile& file,
    const std::string& key,
    const at::Tensor& into,
    const std::string& missing,
    const std::string& expected);

} // namespace arl2::io
