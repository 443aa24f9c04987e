// parameter_report (see parameter_report.h).
#include "parameter_report.h"

#include <iomanip>
#include <sstream>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/conversion.h"
#include "model/wan_dit.h"

namespace arl2::cli {
namespace {

// 1418996800 -> "1,418,996,800"
std::string grouped(int64_t n) {
  auto digits = std::to_string(n);
  for (int64_t i = static_cast<int64_t>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<size_t>(i), ",");
  }
  return digits;
}

// {0, 1, 2, 5} -> "0-2, 5"
std::string ranges(const std::vector<int64_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) {
      ++j;
    }
    out += (out.empty() ? "" : ", ") + std::to_string(layers[i]) + (j > i ? "-" + std::to_string(layers[j]) : "");
    i = j + 1;
  }
  return out;
}

} // namespace

std::string parameter_report(const config::Config& config) {
  model::WanDiT dit(config.model, at::TensorOptions().device(at::kMeta));
  const auto& c = config.model;
  std::ostringstream out;
  out << "model: dim " << c.dim << ", " << c.num_heads << " heads, " << c.num_layers << " layers, ffn " << c.ffn_dim
      << "\n";
  if (config.hybrid) {
    const auto layers = model::convert_to_hybrid(dit, *config.hybrid);
    out << "hybrid layers: " << ranges(layers) << " (" << layers.size() << " of " << c.num_layers << ")"
        << (config.hybrid->lora ? ", with LoRA" : "")
        << (config.hybrid->lora && config.hybrid->ffn_lora_all_layers ? " (FFN adapters on every layer)" : "") << "\n";
  } else {
    out << "hybrid layers: none\n";
  }
  const auto groups = model::group_parameters(dit);
  int64_t total = 0, trainable = 0;
  for (const auto& g : groups) {
    total += g.numel();
    trainable += g.trainable_numel();
  }
  out << "parameters: " << grouped(total) << " total, " << grouped(trainable) << " trainable (" << std::fixed
      << std::setprecision(2) << 100.0 * static_cast<double>(trainable) / static_cast<double>(total) << "%)\n";
  out << "  " << std::left << std::setw(8) << "group" << std::right << std::setw(9) << "tensors" << std::setw(17)
      << "parameters" << std::setw(17) << "trainable"
      << "\n";
  for (const auto& g : groups) {
    out << "  " << std::left << std::setw(8) << g.name << std::right << std::setw(9) << g.parameters.size()
        << std::setw(17) << grouped(g.numel()) << std::setw(17) << grouped(g.trainable_numel()) << "\n";
  }
  return out.str();
}

} // namespace arl2::cli
