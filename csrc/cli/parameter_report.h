// What `arl2 info --config` prints about a configured model: its layers, and its parameters in
// total, trainable, and per group (base, hybrid, lora), counted on the meta device (nothing allocated).
#pragma once

#include <string>

#include "config/config.h"

namespace arl2::cli {

std::string parameter_report(const config::Config& config);

} // namespace arl2::cli
