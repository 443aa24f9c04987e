// The dimensions of a Wan2.1 DiT. A plain struct with its field table (io/fields.h): the config reader
// (csrc/config/model_section.cpp) fills it and calls validate_model_config; the model reads nothing else.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/fields.h"

namespace arl2::model {

// Defaults are Wan2.1-T2V-1.3B (docs/design.md, "The Wan2.1 DiT").
struct ModelConfig {
  int64_t dim = 1536;
  int64_t ffn_dim = 8960;
  int64_t num_heads = 12;
  int64_t num_layers = 30;
  std::array<int64_t, 3> patch = {1, 2, 2}; // (t, h, w)
  int64_t in_dim = 16;                      // latent channels in
  int64_t out_dim = 16;                     // latent channels out
  int64_t text_len = 512;                   // text tokens; shorter contexts are zero-padded to it, as Wan does
  int64_t text_dim = 4096;                  // width of the text encoder's output
  int64_t freq_dim = 256;                   // sinusoidal timestep embedding width
  double eps = 1e-6;                        // every LayerNorm and the q/k RMSNorms

  int64_t head_dim() const {
    return dim / num_heads;
  }
  // RGB pixels in and out (the toy domain's models): no VAE between the model and the video.
  bool pixel_space() const {
    return in_dim == 3 && out_dim == 3;
  }
};

// The model section's keys (besides `preset`). The bounds lie far above any DiT's, so that a typo fails here rather
// than in an hour-long build, and no product of sizes overflows 64 bits; relations between fields are
// validate_model_config's.
template <typename Self, typename Visitor, io::TableOf<Self, ModelConfig> = 0>
void visit_fields(Self& c, Visitor&& field) {
  constexpr io::IntRange kWidth{1, 1 << 20};
  constexpr io::IntRange kCount{1, 1 << 10};
  field("dim", c.dim, kWidth);
  field("ffn_dim", c.ffn_dim, kWidth);
  field("num_heads", c.num_heads, kCount);
  field("num_layers", c.num_layers, kCount);
  field("patch", c.patch, io::IntRange{1, 1 << 8});
  field("in_dim", c.in_dim, kWidth);
  field("out_dim", c.out_dim, kWidth);
  field("text_len", c.text_len, kWidth);
  field("text_dim", c.text_dim, kWidth);
  field("freq_dim", c.freq_dim, kWidth);
  field("eps", c.eps, io::NumberRange{0, 1, true});
}

// "wan2.1-t2v-1.3b", "tiny" (dim 64, 2 heads of 32, 2 layers: small enough for CPU tests, with a head dim the CUDA GDN
// kernels accept) or "toy" (the toy domain's teacher, docs/design.md "The toy domain and its eval": RGB pixels in 4 x 4
// patches, dim 128, 4 heads of 32, 4 layers, the toy prompts' one-hot text of 16 x 32; 1.2M parameters, 4.9 MB in
// float32). Throws naming the known presets.
ModelConfig model_preset(std::string_view name);
std::vector<std::string> model_preset_names();

// Throws c10::Error naming the first offending field, e.g.
// "model.dim (64) must be divisible by model.num_heads (3)".
void validate_model_config(const ModelConfig& config);

} // namespace arl2::model
