// Loading and saving parameters (see weights.h).
#include "model/weights.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "io/fnv1a.h"
#include "io/safetensors.h"
#include "io/value_checks.h"

namespace arl2::model {

io::ShapeMap parameter_shapes(const torch::nn::Module& module) {
  io::ShapeMap shapes;
  for (const auto& p : module.named_parameters()) {
    shapes.emplace(p.key(), p.value().sizes().vec());
  }
  return shapes;
}

void load_weights(torch::nn::Module& module, const std::string& path) {
  const io::SafetensorsFile file(path);
  const auto tensors = io::load_state_dict(file, parameter_shapes(module));
  c10::NoGradGuard no_grad;
  for (auto& p : module.named_parameters()) {
    const auto& name = p.key();
    const auto& source = tensors.at(name);
    TORCH_CHECK(
        !p.value().is_meta(),
        path,
        ": cannot load '",
        name,
        "' into a parameter on the meta device; build the model on a real device");
    io::check_finite_floats(source, path, name);
    p.value().copy_(source);
  }
}

void save_weights(const torch::nn::Module& module, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : module.named_parameters()) {
    tensors.emplace_back(p.key(), p.value().detach());
  }
  io::save_safetensors(path, tensors);
}

std::string weights_fingerprint(const torch::nn::Module& module) {
  constexpr int64_t kSamples = 256;
  io::Fnv1a hash;
  for (const auto& p : module.named_parameters()) {
    const auto& value = p.value();
    hash.add(p.key());
    hash.add(c10::toString(value.scalar_type()));
    for (const int64_t size : value.sizes()) {
      hash.add(&size, sizeof(size));
    }
    const auto flat = value.detach().reshape(-1);
    const int64_t n = flat.numel();
    if (n == 0) {
      continue;
    }
    const int64_t count = std::min(n, kSamples);
    std::vector<int64_t> picks(count);
    for (int64_t i = 0; i < count; ++i) {
      picks[i] = count == 1 ? 0 : i * (n - 1) / (count - 1); // integers, so that every device picks the same
    }
    const auto index = at::tensor(picks, at::TensorOptions().dtype(at::kLong)).to(flat.device());
    const auto samples = flat.index_select(0, index).cpu().contiguous();
    hash.add(samples.data_ptr(), samples.nbytes());
  }
  return "w1:" + hash.hex();
}

void draw_random_weights(torch::nn::Module& module, std::optional<at::Generator> generator) {
  c10::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    const double fan_in = p.dim() > 1 ? static_cast<double>(p[0].numel()) : 16.0;
    p.normal_(0.0, 1.0 / std::sqrt(fan_in), generator);
  }
}

} // namespace arl2::model
