// Presets and validation of ModelConfig (see config.h).
#include "model/config.h"

#include <utility>

#include <c10/util/Exception.h>

namespace arl2::model {
namespace {

void check_positive(const char* field, int64_t value) {
  TORCH_CHECK(value > 0, "model.", field, " (", value, ") must be positive");
}

ModelConfig tiny() {
  ModelConfig c;
  c.dim = 64;
  c.ffn_dim = 128;
  c.num_heads = 2;
  c.num_layers = 2;
  c.text_len = 8;
  c.text_dim = 32;
  c.freq_dim = 32;
  return c;
}

ModelConfig toy() {
  ModelConfig c;
  c.dim = 128;
  c.ffn_dim = 512;
  c.num_heads = 4;
  c.num_layers = 4;
  c.patch = {1, 4, 4};
  c.in_dim = 3;
  c.out_dim = 3;
  c.text_len = 16;
  c.text_dim = 32;
  c.freq_dim = 64;
  return c;
}

// Every preset: a name and its dimensions.
std::vector<std::pair<std::string, ModelConfig>> presets() {
  return {{"wan2.1-t2v-1.3b", ModelConfig{}}, {"tiny", tiny()}, {"toy", toy()}};
}

} // namespace

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  for (const auto& [name, config] : presets()) {
    names.push_back(name);
  }
  return names;
}

ModelConfig model_preset(std::string_view name) {
  std::string known;
  for (const auto& [preset, config] : presets()) {
    if (preset == name) {
      return config;
    }
    known += (known.empty() ? "" : ", ") + preset;
  }
  TORCH_CHECK(false, "model preset '", name, "' is unknown; known presets: ", known);
}

void validate_model_config(const ModelConfig& c) {
  check_positive("dim", c.dim);
  check_positive("ffn_dim", c.ffn_dim);
  check_positive("num_heads", c.num_heads);
  check_positive("num_layers", c.num_layers);
  check_positive("patch[0]", c.patch[0]);
  check_positive("patch[1]", c.patch[1]);
  check_positive("patch[2]", c.patch[2]);
  check_positive("in_dim", c.in_dim);
  check_positive("out_dim", c.out_dim);
  check_positive("text_len", c.text_len);
  check_positive("text_dim", c.text_dim);
  check_positive("freq_dim", c.freq_dim);
  TORCH_CHECK(
      c.dim % c.num_heads == 0, "model.dim (", c.dim, ") must be divisible by model.num_heads (", c.num_heads, ")");
  // RoPE rotates pairs of the head dim; the sinusoidal embedding is half cosines, half sines.
  TORCH_CHECK(
      c.head_dim() % 2 == 0,
      "model.dim / model.num_heads (",
      c.head_dim(),
      ") must be even: 3D RoPE rotates pairs of the head dim");
  TORCH_CHECK(c.freq_dim % 2 == 0, "model.freq_dim (", c.freq_dim, ") must be even");
  TORCH_CHECK(c.eps > 0, "model.eps (", c.eps, ") must be positive");
}

} // namespace arl2::model
