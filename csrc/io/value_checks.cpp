// check_finite_floats and copy_checked (see value_checks.h).
#include "io/value_checks.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "io/safetensors.h"

namespace arl2::io {

void check_finite_floats(const at::Tensor& t, const std::string& file, const std::string& name) {
  TORCH_CHECK(
      at::isFloatingType(t.scalar_type()),
      file,
      ": tensor '",
      name,
      "' is ",
      t.scalar_type(),
      ", expected a floating-point tensor");
  if (at::isfinite(t).all().item<bool>()) {
    return;
  }
  const auto bad = at::logical_not(at::isfinite(t)).reshape({-1});
  const int64_t count = bad.sum().item<int64_t>();
  const int64_t first = bad.nonzero()[0][0].item<int64_t>();
  TORCH_CHECK(
      false,
      file,
      ": tensor '",
      name,
      "' holds ",
      count,
      " non-finite value",
      count == 1 ? "" : "s",
      " (NaN or Inf) of ",
      t.numel(),
      ", the first at flat index ",
      first);
}

void copy_checked(
    const SafetensorsFile& file,
    const std::string& key,
    const at::Tensor& into,
    const std::string& missing,
    const std::string& expected) {
  TORCH_CHECK(file.contains(key), file.path(), ": ", missing);
  const at::Tensor t = file.tensor(key);
  check_finite_floats(t, file.path(), key);
  TORCH_CHECK(t.sizes() == into.sizes(), file.path(), ": '", key, "' has shape ", t.sizes(), ", ", expected);
  into.copy_(t);
}

} // namespace arl2::io
