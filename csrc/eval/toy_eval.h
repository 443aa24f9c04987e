// `arl2 eval` for the toy domain, where the truth is known: the teacher and any number of hybrids or students,
// each from its own inference config, measured on the same toy clips (eval_clips.h) by
//   continuation     true context blocks committed, the next blocks generated, MSE against the truth
//                    (continuation.h; with the copy-last-frame baseline);
//   teacher forcing  each --model's predicted x0 against the teacher's on the same noisy true clip, at each of
//                    its sampler's timesteps (teacher_forcing_gap.h);
//   rollouts         from the prompt alone, measured from the pixels at each of --lengths (rollout_metrics.h;
//                    with the truth measured alike); eval_report.h reads them per tenth and across block
//                    boundaries as well.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "eval/eval_options.h"
#include "eval/eval_report.h"
#include "model/wan_dit.h"

namespace arl2::eval {

struct EvalRequest {
  std::string teacher_config;         // --teacher: a plain model (no hybrid section)
  std::vector<std::string> models;    // --model NAME=CONFIG, as given
  std::vector<std::string> overrides; // --set, applied to every config
  EvalOptions options;
};

// The model `config` describes, with its trained weights, on the device and in the dtype of its inference
// section (`arl2 eval` builds it as `arl2 generate` does). `config_path` is for its errors.
using ModelBuilder =
    std::function<std::shared_ptr<model::WanDiT>(const config::Config& config, const std::string& config_path)>;

// Receives one line per step (a model's continuation, its teacher-forcing gap, each length its rollout reaches)
// with the seconds it took: a 320-frame rollout takes minutes on a CPU.
using ProgressLog = std::function<void(const std::string& line)>;

// Reads and checks every config and option first (errors name the option, or the config file and its key:
// a model outside the toy domain, frames that are not square, models that differ in block or frame size, a
// --teacher with a hybrid section), then builds every model, then evaluates them in turn.
EvalReport run_toy_eval(const EvalRequest& request, const ModelBuilder& build, const ProgressLog& log = {});

} // namespace arl2::eval
