// The `model:` section (see sections.h).
#include "config/sections.h"

namespace arl2::config {
namespace {

// Bounds far above any DiT's, so that a typo fails here rather than in an hour-long build, and no product of
// sizes overflows 64 bits.
constexpr IntRange kWidth{1, 1 << 20};
constexpr IntRange kCount{1, 1 << 10};

} // namespace

model::ModelConfig read_model_section(const YamlMap& s) {
  s.check_keys(
      {"preset",
       "dim",
       "ffn_dim",
       "num_heads",
       "num_layers",
       "patch",
       "in_dim",
       "out_dim",
       "text_len",
       "text_dim",
       "freq_dim",
       "eps"});
  auto c = model::model_preset(s.has("preset") ? s.choice("preset", model::model_preset_names()) : "wan2.1-t2v-1.3b");
  s.read("dim", c.dim, kWidth);
  s.read("ffn_dim", c.ffn_dim, kWidth);
  s.read("num_heads", c.num_heads, kCount);
  s.read("num_layers", c.num_layers, kCount);
  s.read("in_dim", c.in_dim, kWidth);
  s.read("out_dim", c.out_dim, kWidth);
  s.read("text_len", c.text_len, kWidth);
  s.read("text_dim", c.text_dim, kWidth);
  s.read("freq_dim", c.freq_dim, kWidth);
  if (s.has("patch")) {
    c.patch = s.integer_triple("patch", {1, 1 << 8});
  }
  s.read("eps", c.eps, {0, 1, true});
  return c;
}

} // namespace arl2::config
