// The toy evaluation run (see toy_eval.h).
#include "eval/toy_eval.h"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "eval/continuation.h"
#include "eval/eval_clips.h"
#include "eval/rollout_metrics.h"
#include "eval/teacher_forcing_gap.h"
#include "inference/flow_matching.h"
#include "io/file_fingerprint.h"
#include "model/conversion.h"
#include "toy/prompt.h"
#include "toy/text.h"

namespace arl2::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

__attribute__((format(printf, 1, 2))) std::string formatted(const char* format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  return text;
}

struct ConfiguredModel {
  NamedConfig named;
  config::Config config;
};

// What the toy evaluation needs of every model, checked against the teacher's block and frame size.
void check_toy_model(const ConfiguredModel& m, const ConfiguredModel& teacher) {
  const auto& c = m.config;
  const auto& path = m.named.config_path;
  const auto& g = c.inference.generator;
  TORCH_CHECK(
      c.model.pixel_space(),
      path,
      ": arl2 eval measures toy-domain models, whose latents are RGB pixels (model.in_dim and model.out_dim 3); "
      "this one has in_dim ",
      c.model.in_dim,
      " and out_dim ",
      c.model.out_dim);
  TORCH_CHECK(
      g.latent_height == g.latent_width,
      path,
      ": toy frames are square, but inference.latent_height (",
      g.latent_height,
      ") and inference.latent_width (",
      g.latent_width,
      ") differ");
  const int64_t longest_prompt = toy::longest_prompt_tokens(toy::SceneOptions{}.max_sprites);
  TORCH_CHECK(
      c.model.text_len >= longest_prompt,
      path,
      ": model.text_len (",
      c.model.text_len,
      ") must hold the longest toy prompt, ",
      longest_prompt,
      " words");
  TORCH_CHECK(
      c.model.text_dim >= toy::min_text_dim(),
      path,
      ": model.text_dim (",
      c.model.text_dim,
      ") must be at least ",
      toy::min_text_dim(),
      ", the toy prompts' one-hot words and phrase positions");
  const auto& t = teacher.config.inference.generator;
  TORCH_CHECK(
      g.frames_per_block == t.frames_per_block,
      path,
      ": inference.frames_per_block (",
      g.frames_per_block,
      ") differs from the teacher's (",
      t.frames_per_block,
      "); the models are compared on the same blocks");
  TORCH_CHECK(
      g.latent_height == t.latent_height,
      path,
      ": the frame size (inference.latent_height ",
      g.latent_height,
      ") differs from the teacher's (",
      t.latent_height,
      ")");
}

std::string fingerprint_of(const std::string& path) {
  return path.empty() ? "" : io::file_fingerprint(path);
}

ModelSource source_of(const ConfiguredModel& m, const model::WanDiT& dit) {
  const auto& inf = m.config.inference;
  return {
      m.named.config_path,
      config::config_hash(m.config),
      inf.checkpoint,
      fingerprint_of(inf.checkpoint),
      inf.hybrid_checkpoint,
      fingerprint_of(inf.hybrid_checkpoint),
      static_cast<int64_t>(model::hybrid_layers(dit).size()),
      inf.generator.schedule.denoising_steps,
      inf.device,
      inf.dtype};
}

} // namespace

EvalReport run_toy_eval(const EvalRequest& request, const ModelBuilder& build, const ProgressLog& log) {
  const auto say = [&log](const std::string& line) {
    if (log) {
      log(line);
    }
  };
  const auto& o = request.options;

  // Everything read and checked before any model is built.
  std::vector<NamedConfig> others;
  for (const auto& text : request.models) {
    others.push_back(parse_named_config(text));
  }
  check_model_names(others);
  std::vector<NamedConfig> named{{kTeacherRow, request.teacher_config}};
  named.insert(named.end(), others.begin(), others.end());
  std::vector<ConfiguredModel> models;
  for (const auto& n : named) {
    models.push_back({n, config::load_config(n.config_path, request.overrides)});
  }
  const auto& teacher = models.front();
  TORCH_CHECK(
      !teacher.config.hybrid,
      "--teacher ",
      teacher.named.config_path,
      ": the config has a hybrid section; the teacher is the plain model (evaluate a hybrid with --model NAME=CONFIG)");
  for (const auto& m : models) {
    check_toy_model(m, teacher);
  }
  const int64_t fpb = teacher.config.inference.generator.frames_per_block;
  const int64_t size = teacher.config.inference.generator.latent_height;
  validate_eval_options(o, fpb);
  const int64_t longest = *std::max_element(o.lengths.begin(), o.lengths.end());
  const int64_t context_frames = o.context_blocks * fpb;
  const auto clips = make_eval_clips(o.seed, o.clips, size, frames_needed(o, fpb));
  const auto continuation_clip = clips.truth.slice(2, 0, (o.context_blocks + o.predict_blocks) * fpb);

  std::string names;
  for (const auto& n : named) {
    names += (names.empty() ? "" : ", ") + n.name;
  }
  say(formatted(
      "eval: clips 0-%lld of seed %llu at %lldx%lld, blocks of %lld frames; models: %s",
      static_cast<long long>(o.clips - 1),
      static_cast<unsigned long long>(o.seed),
      static_cast<long long>(size),
      static_cast<long long>(size),
      static_cast<long long>(fpb),
      names.c_str()));
  std::vector<std::shared_ptr<const model::WanDiT>> dits;
  for (const auto& m : models) {
    const auto start = Clock::now();
    dits.push_back(build(m.config, m.named.config_path));
    say(formatted(
        "%s: built from %s (%.1f s)", m.named.name.c_str(), m.named.config_path.c_str(), seconds_since(start)));
  }

  EvalReport report{o, request.overrides, fpb, size, {}};
  {
    const auto start = Clock::now();
    EvalRow truth;
    truth.name = kTruthRow;
    truth.rollout = mean_clip_metrics(clips.truth.slice(2, 0, longest), clips.prompt_colours, o.analysis);
    truth.seconds = seconds_since(start);
    report.rows.push_back(truth);
    EvalRow baseline;
    baseline.name = kCopyLastFrameRow;
    baseline.continuation_mse = continuation_mse(continuation_clip, context_frames, copy_last_frame());
    report.rows.push_back(baseline);
  }
  std::vector<at::Tensor> texts;
  for (const auto& m : models) {
    texts.push_back(prompt_embeddings(clips.prompts, m.config.model));
  }
  for (size_t i = 0; i < models.size(); ++i) {
    const auto& m = models[i];
    const auto& name = m.named.name;
    const auto& g = m.config.inference.generator;
    const auto row_start = Clock::now();
    EvalRow row;
    row.name = name;
    row.source = source_of(m, *dits[i]);

    auto start = Clock::now();
    row.continuation_mse =
        continuation_mse(continuation_clip, context_frames, generated_continuation(dits[i], g, texts[i], o.seed));
    say(formatted(
        "%s: continuation of %lld frames after %lld: %.1f s",
        name.c_str(),
        static_cast<long long>(continuation_clip.size(2) - context_frames),
        static_cast<long long>(context_frames),
        seconds_since(start)));

    if (i > 0) {
      start = Clock::now();
      row.teacher_forcing = teacher_forcing_gap(
          {dits[i], texts[i]},
          {dits[0], texts[0]},
          inference::FlowMatchSchedule(g.schedule),
          g.context_timestep,
          fpb,
          continuation_clip,
          o.seed);
      say(formatted(
          "%s: teacher forcing against the teacher at %zu timesteps: %.1f s",
          name.c_str(),
          row.teacher_forcing->timesteps.size(),
          seconds_since(start)));
    }

    start = Clock::now();
    const auto on_block = [&](int64_t frames) {
      if (std::find(o.lengths.begin(), o.lengths.end(), frames) != o.lengths.end()) {
        say(formatted(
            "%s: rollout at %lld frames: %.1f s", name.c_str(), static_cast<long long>(frames), seconds_since(start)));
      }
    };
    row.rollout = rollout_metrics(dits[i], g, texts[i], clips.prompt_colours, longest, o.seed, o.analysis, on_block);
    row.seconds = seconds_since(row_start);
    report.rows.push_back(std::move(row));
  }
  return report;
}

} // namespace arl2::eval
