// Model dtypes by name (see dtype_names.h).
#include "model/dtype_names.h"

#include <c10/util/Exception.h>

namespace arl2::model {

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"float32", "float64", "bfloat16"};
  return names;
}

at::ScalarType dtype_named(const std::string& name) {
  if (name == "float32") {
    return at::kFloat;
  }
  if (name == "float64") {
    return at::kDouble;
  }
  TORCH_CHECK(name == "bfloat16", "dtype must be one of float32, float64, bfloat16, got '", name, "'");
  return at::kBFloat16;
}

} // namespace arl2::model
