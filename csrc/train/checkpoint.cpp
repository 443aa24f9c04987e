#include "train/checkpoint.h"

#include <map>
#include <mutex>
#include <set>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include "io/safetensors.h"
#include "io/value_checks.h"

namespace arl2::train {
namespace {

// Tensor names: param.<name>, adam.exp_avg.<name>, adam.exp_avg_sq.<name>, adam.step.<name>, ema.<name>,
// rng. Scalars go to the metadata.
const std::string kParam = "param.", kExpAvg = "adam.exp_avg.", kExpAvgSq = "adam.exp_avg_sq.", kStep = "adam.step.",
                  kEma = "ema.", kRng = "rng";

int64_t metadata_int(const io::SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  TORCH_CHECK(
      it != file.metadata().end(),
      file.path(),
      ": no '",
      key,
      "' in its metadata: not a training checkpoint, or one written by an arl2 older than that field");
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    TORCH_CHECK(false, file.path(), ": metadata '", key, "' is not an integer: '", it->second, "'");
  }
}

// A tensor of the checkpoint into the run's `into`.
void restore(const io::SafetensorsFile& file, const std::string& key, const at::Tensor& into) {
  io::copy_checked(file, key, into, "missing '" + key + "'", c10::str("the run expects ", into.sizes()));
}

std::string metadata_string(const io::SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  return it == file.metadata().end() ? std::string() : it->second;
}

} // namespace

std::string checkpoint_prefix(TrainedWeights weights) {
  return weights == TrainedWeights::kEma ? kEma : kParam;
}

bool is_training_checkpoint(const io::SafetensorsFile& file) {
  return file.metadata().count("step") && file.metadata().count("config_hash");
}

CheckpointState read_checkpoint_state(const io::SafetensorsFile& file) {
  CheckpointState state;
  state.step = metadata_int(file, "step");
  state.stage = metadata_int(file, "stage");
  state.data = {metadata_int(file, "data_epoch"), metadata_int(file, "data_index")};
  state.config_hash = metadata_string(file, "config_hash");
  state.base_weights = metadata_string(file, "base_weights");
  state.base_fingerprint = metadata_string(file, "base_weights_fingerprint");
  return state;
}

void check_base_weights(
    const std::string& checkpoint,
    const CheckpointState& state,
    const std::string& base_path,
    const std::string& fingerprint) {
  const auto named = [](const std::string& path, const std::string& fp) {
    return (path.empty() ? std::string("random weights") : "'" + path + "'") + " (" + fp + ")";
  };
  TORCH_CHECK(
      fingerprint == state.base_fingerprint,
      "'",
      checkpoint,
      "' was trained on the base weights ",
      named(state.base_weights, state.base_fingerprint),
      ", not on ",
      named(base_path, fingerprint),
      base_path.empty() ? "; set inference.checkpoint to its base weights file, or the seed, dtype and device its "
                          "random weights were drawn with"
                        : ": a different file; point inference.checkpoint at the one it was trained on");
}

std::vector<std::pair<std::string, at::Tensor>> checkpoint_tensors(
    const std::vector<std::pair<std::string, at::Tensor>>& trainable,
    const torch::optim::AdamW& optimizer,
    const Ema& ema) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto& moments = optimizer.state();
  for (const auto& [name, p] : trainable) {
    tensors.emplace_back(kParam + name, p.detach());
    const auto it = moments.find(p.unsafeGetTensorImpl());
    if (it != moments.end()) { // no state before the parameter's first step
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      tensors.emplace_back(kExpAvg + name, s.exp_avg());
      tensors.emplace_back(kExpAvgSq + name, s.exp_avg_sq());
      tensors.emplace_back(kStep + name, at::scalar_tensor(s.step(), at::kLong));
    }
  }
  for (const auto& [name, s] : ema.shadow()) {
    tensors.emplace_back(kEma + name, s);
  }
  return tensors;
}

std::string first_non_finite(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  for (const auto& [name, t] : tensors) {
    if (!at::isfinite(t).all().item<bool>()) {
      return name;
    }
  }
  return "";
}

void save_checkpoint(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& trainable,
    const torch::optim::AdamW& optimizer,
    const Ema& ema,
    const CheckpointState& state,
    const at::Generator& rng) {
  auto tensors = checkpoint_tensors(trainable, optimizer, ema);
  for (auto& [name, t] : tensors) {
    t = t.cpu();
  }
  {
    at::Generator shared = rng; // a handle to the same generator: its mutex is not const
    std::lock_guard<std::mutex> lock(shared.mutex());
    tensors.emplace_back(kRng, shared.get_state());
  }
  io::save_safetensors(
      path,
      tensors,
      {{"step", std::to_string(state.step)},
       {"stage", std::to_string(state.stage)},
       {"data_epoch", std::to_string(state.data.epoch)},
       {"data_index", std::to_string(state.data.index)},
       {"config_hash", state.config_hash},
       {"base_weights", state.base_weights},
       {"base_weights_fingerprint", state.base_fingerprint}});
}

CheckpointState load_checkpoint(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& trainable,
    torch::optim::AdamW& optimizer,
    Ema& ema,
    at::Generator& rng,
    const std::string& expected_config_hash) {
  const io::SafetensorsFile file(path);
  const auto state = read_checkpoint_state(file);
  TORCH_CHECK(
      expected_config_hash.empty() || state.config_hash == expected_config_hash,
      path,
      ": the checkpoint was written under config hash ",
      state.config_hash,
      ", this run's is ",
      expected_config_hash,
      "; resume with the config it was trained with");

  std::set<std::string> expected_params;
  for (const auto& [name, p] : trainable) {
    expected_params.insert(kParam + name);
  }
  for (const auto& key : file.keys()) {
    TORCH_CHECK(
        key.rfind(kParam, 0) != 0 || expected_params.count(key),
        path,
        ": '",
        key,
        "' is not a trainable parameter of this run");
  }

  c10::NoGradGuard no_grad;
  auto& moments = optimizer.state();
  for (const auto& [name, p] : trainable) {
    restore(file, kParam + name, p);
    moments.erase(p.unsafeGetTensorImpl());
    if (file.contains(kStep + name)) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(file.tensor(kStep + name).item<int64_t>());
      s->exp_avg(at::empty_like(p, at::MemoryFormat::Preserve));
      s->exp_avg_sq(at::empty_like(p, at::MemoryFormat::Preserve));
      restore(file, kExpAvg + name, s->exp_avg());
      restore(file, kExpAvgSq + name, s->exp_avg_sq());
      moments[p.unsafeGetTensorImpl()] = std::move(s);
    }
  }
  for (auto& [name, s] : ema.shadow()) {
    restore(file, kEma + name, s);
  }
  TORCH_CHECK(file.contains(kRng), path, ": missing 'rng'");
  {
    std::lock_guard<std::mutex> lock(rng.mutex());
    rng.set_state(file.tensor(kRng).clone());
  }
  return state;
}

} // namespace arl2::train
