#include "train/training_run.h"

#include <chrono>
#include <fstream>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

namespace arl2::train {
namespace {

// 75 -> "1:15", 3725 -> "1:02:05"
std::string clock_time(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lld:%02lld", s / 60, s % 60);
  }
  return text;
}

nlohmann::json metrics_line(const StepResult& r, double steps_per_s, double elapsed_s, const Trainer& trainer) {
  nlohmann::json line = {
      {"step", r.step},
      {"loss", r.loss},
      {"lr", r.lr},
      {"grad_norm", r.grad_norm},
      {"steps_per_s", steps_per_s},
      {"elapsed_s", elapsed_s}};
  if (!r.layer_losses.empty()) {
    line["layer_losses"] = r.layer_losses;
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& d : trainer.diagnostics()) {
    layers.push_back(
        {{"layer", d.layer},
         {"intra_rms", d.values.intra_rms},
         {"gated_memory_rms", d.values.gated_memory_rms},
         {"gate_mean", d.values.gate_mean},
         {"gate_saturation", d.values.gate_saturation}});
  }
  line["hybrid_layers"] = layers;
  return line;
}

} // namespace

void run_training(
    Trainer& trainer,
    const RunFolder* folder,
    std::FILE* progress,
    const std::function<void(const StepResult&)>& on_step) {
  const auto& train = trainer.config().train;
  const bool writes = folder != nullptr;
  TORCH_CHECK(writes == (trainer.group().rank() == 0), "run_training: rank 0, and it alone, writes the run folder");
  TORCH_CHECK(
      !writes || folder->path() == train.out,
      "run_training: the run folder '",
      folder->path(),
      "' is not train.out '",
      train.out,
      "'");
  std::ofstream metrics;
  if (writes) {
    folder->keep_metrics_through(trainer.steps_done());
    metrics.open(folder->metrics_path(), std::ios::app);
    TORCH_CHECK(metrics.good(), "train.out: cannot write '", folder->metrics_path(), "'");
  }

  const int64_t first = trainer.steps_done();
  const auto start = std::chrono::steady_clock::now();
  // Speed over the steps since the last log line, so that the first steps' warm-up fades from it.
  auto window_start = start;
  int64_t window_first = first;
  while (trainer.steps_done() < train.steps) {
    const int64_t next = trainer.steps_done() + 1;
    const bool log = next % train.log_every == 0 || next == first + 1 || next == train.steps;
    trainer.set_diagnostics(log);
    const auto result = trainer.step();
    if (log && writes) {
      const auto now = std::chrono::steady_clock::now();
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double rate =
          static_cast<double>(result.step - window_first) / std::chrono::duration<double>(now - window_start).count();
      window_start = now;
      window_first = result.step;
      metrics << metrics_line(result, rate, elapsed, trainer).dump() << "\n";
      metrics.flush();
      TORCH_CHECK(metrics.good(), "train.out: cannot write '", folder->metrics_path(), "'");
      std::fprintf(
          progress,
          "step %lld/%lld  %.2f it/s  loss %.6g  lr %.3g  grad norm %.4g  ETA %s\n",
          static_cast<long long>(result.step),
          static_cast<long long>(train.steps),
          rate,
          result.loss,
          result.lr,
          result.grad_norm,
          clock_time(static_cast<double>(train.steps - result.step) / rate).c_str());
      std::fflush(progress);
    }
    if (result.step % train.checkpoint_every == 0 || result.step == train.steps) {
      trainer.save_checkpoint(checkpoint_path(train.out, result.step));
      if (writes) {
        std::fprintf(progress, "checkpoint: %s\n", trainer.last_checkpoint().c_str());
        std::fflush(progress);
      }
    }
    if (on_step) {
      on_step(result);
    }
  }
}

} // namespace arl2::train
