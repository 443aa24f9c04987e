// dump_config (see config.h): every section with every value, so that a run folder's config.yaml reads
// back to the configuration that ran, whatever the defaults become later.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "io/fnv1a.h"

namespace arl2::config {
namespace {

// The shortest decimal that reads back as exactly `x` (the emitter's default rounds to 6 digits).
std::string exact(double x) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, x);
    if (std::strtod(text, nullptr) == x) {
      break;
    }
  }
  return text;
}

template <typename T>
void put(YAML::Emitter& out, const char* key, const T& value) {
  out << YAML::Key << key << YAML::Value << value;
}

void put_number(YAML::Emitter& out, const char* key, double value) {
  put(out, key, exact(value));
}

void put_list(YAML::Emitter& out, const char* key, const std::vector<int64_t>& values) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto v : values) {
    out << v;
  }
  out << YAML::EndSeq;
}

void model_section(YAML::Emitter& out, const model::ModelConfig& m) {
  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
  put(out, "dim", m.dim);
  put(out, "ffn_dim", m.ffn_dim);
  put(out, "num_heads", m.num_heads);
  put(out, "num_layers", m.num_layers);
  put_list(out, "patch", {m.patch.begin(), m.patch.end()});
  put(out, "in_dim", m.in_dim);
  put(out, "out_dim", m.out_dim);
  put(out, "text_len", m.text_len);
  put(out, "text_dim", m.text_dim);
  put(out, "freq_dim", m.freq_dim);
  put_number(out, "eps", m.eps);
  out << YAML::EndMap;
}

void hybrid_section(YAML::Emitter& out, const model::HybridOptions& h) {
  out << YAML::Key << "hybrid" << YAML::Value << YAML::BeginMap;
  if (!h.layers.empty()) {
    put_list(out, "layers", h.layers);
  }
  if (h.ratio) {
    put_number(out, "ratio", *h.ratio);
  }
  for (const auto& name : model::layer_policy_names()) {
    if (model::layer_policy(name) == h.policy) {
      put(out, "policy", name);
    }
  }
  put(out, "lora", h.lora);
  put(out, "lora_rank", h.lora_options.rank);
  put_number(out, "lora_alpha", h.lora_options.alpha);
  if (h.ffn_lora_all_layers) { // only when set, so the configs (and hashes) of runs without it read as before
    put(out, "ffn_lora_all_layers", h.ffn_lora_all_layers);
  }
  out << YAML::EndMap;
}

void inference_section(YAML::Emitter& out, const InferenceConfig& c) {
  const auto& g = c.generator;
  out << YAML::Key << "inference" << YAML::Value << YAML::BeginMap;
  put_list(out, "denoising_steps", g.schedule.denoising_steps);
  put_number(out, "shift", g.schedule.shift);
  put(out, "warp", g.schedule.warp);
  if (g.schedule.sampler != inference::Sampler::kRenoise) { // the default: configs without it keep their hashes
    put(out, "sampler", std::string(inference::name_of(g.schedule.sampler)));
  }
  put_number(out, "context_timestep", g.context_timestep);
  if (g.guided()) { // unguided configs read (and hash) as before the key existed
    put_number(out, "guidance_scale", g.guidance_scale);
  }
  put(out, "frames_per_block", g.frames_per_block);
  put(out, "latent_height", g.latent_height);
  put(out, "latent_width", g.latent_width);
  put(out, "kv_window_frames", g.kv.window_frames);
  put(out, "kv_sink_frames", g.kv.sink_frames);
  put(out, "cuda_graphs", g.cuda_graphs);
  put(out, "dtype", c.dtype);
  put(out, "device", c.device);
  put(out, "checkpoint", c.checkpoint);
  put(out, "hybrid_checkpoint", c.hybrid_checkpoint);
  out << YAML::EndMap;
}

void train_section(YAML::Emitter& out, const TrainConfig& t) {
  out << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
  put(out, "stage", t.stage);
  put(out, "steps", t.steps);
  put_number(out, "lr", t.lr);
  put(out, "warmup_steps", t.warmup_steps);
  put_number(out, "min_lr_ratio", t.min_lr_ratio);
  put_number(out, "weight_decay", t.weight_decay);
  put_number(out, "beta1", t.beta1);
  put_number(out, "beta2", t.beta2);
  put_number(out, "eps", t.eps);
  put_number(out, "grad_clip", t.grad_clip);
  put_number(out, "layer_loss_weight", t.layer_loss_weight);
  if (t.prompt_dropout > 0) { // configs without it read (and hash) as before the key existed
    put_number(out, "prompt_dropout", t.prompt_dropout);
  }
  if (t.teacher_guidance_scale != 1.0) {
    put_number(out, "teacher_guidance_scale", t.teacher_guidance_scale);
  }
  if (t.stage == 3) { // other stages refuse these keys: their configs (and hashes) read as before
    put(out, "rollout_frames", t.rollout_frames);
    put(out, "rollout_context_blocks", t.rollout_context_blocks);
    put(out, "rollout_window_blocks", t.rollout_window_blocks);
    put(out, "rollout_buffer", t.rollout_buffer);
    put(out, "rollout_refresh_steps", t.rollout_refresh_steps);
    put(out, "rollout_curriculum_steps", t.rollout_curriculum_steps);
    put_number(out, "rollout_clip_loss_weight", t.rollout_clip_loss_weight);
  }
  put(out, "grad_accumulation", t.grad_accumulation);
  put(out, "batch_size", t.batch_size);
  put_number(out, "ema_decay", t.ema_decay);
  put(out, "ema_start_step", t.ema_start_step);
  put(out, "seed", t.seed);
  put(out, "checkpoint_every", t.checkpoint_every);
  put(out, "log_every", t.log_every);
  put(out, "activation_checkpointing", t.activation_checkpointing);
  put(out, "dtype", t.dtype);
  put(out, "device", t.device);
  put(out, "out", t.out);
  put(out, "init_from", t.init_from);
  out << YAML::EndMap;
}

} // namespace

std::string dump_config(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  model_section(out, config.model);
  if (config.hybrid) {
    hybrid_section(out, *config.hybrid);
  }
  inference_section(out, config.inference);
  train_section(out, config.train);
  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
  put(out, "path", config.data.path);
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_hash(const Config& config) {
  io::Fnv1a hash;
  hash.add(dump_config(config));
  return hash.hex();
}

} // namespace arl2::config
