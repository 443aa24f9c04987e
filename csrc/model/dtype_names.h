// The dtypes a model is built in, by the names that configs (inference.dtype, train.dtype) and Python give them.
#pragma once

#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

namespace arl2::model {

// float32, float64, bfloat16
const std::vector<std::string>& dtype_names();

// Throws listing dtype_names() for any other name.
at::ScalarType dtype_named(const std::string& name);

} // namespace arl2::model
