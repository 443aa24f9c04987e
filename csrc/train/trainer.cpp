#include "train/trainer.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>

#include "inference/device_memory.h"
#include "inference/guidance.h"
#include "inference/memory_estimate.h"
#include "io/safetensors.h"
#include "io/value_checks.h"
#include "model/autocast_scope.h"
#include "model/cpu_denormals.h"
#include "model/dtype_names.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/layer_alignment.h"
#include "train/optimizer.h"
#include "train/teacher.h"
#include "train/teacher_forcing_input.h"

namespace arl2::train {
namespace {

// The dataset's clips must fit the model and the blocks; checked once, before any step.
void check_clips(const ClipDataset& data, const config::Config& config) {
  const auto& clip = data.clip_shape(); // [F, C, H, W]
  const auto& text = data.text_shape(); // [L, D]
  const auto& m = config.model;
  const int64_t frames_per_block = config.inference.generator.frames_per_block;
  TORCH_CHECK(
      clip[1] == m.in_dim, "data.path: the clips have ", clip[1], " latent channels, model.in_dim is ", m.in_dim);
  TORCH_CHECK(
      clip[0] % frames_per_block == 0 && clip[0] / frames_per_block >= 2,
      "data.path: the clips' ",
      clip[0],
      " latent frames must be two or more whole blocks of inference.frames_per_block (",
      frames_per_block,
      "): training learns each block from the blocks before it");
  TORCH_CHECK(
      clip[2] % m.patch[1] == 0 && clip[3] % m.patch[2] == 0,
      "data.path: the clips' ",
      clip[2],
      " x ",
      clip[3],
      " latents do not divide into model.patch");
  TORCH_CHECK(
      text[1] == m.text_dim && text[0] <= m.text_len,
      "data.path: the text embeddings are [",
      text[0],
      ", ",
      text[1],
      "], the model takes up to model.text_len (",
      m.text_len,
      ") of model.text_dim (",
      m.text_dim,
      ")");
}

// "nan" whatever its sign bit (streams print "-nan" for some).
std::string number(double x) {
  if (std::isnan(x)) {
    return "nan";
  }
  std::ostringstream out;
  out << x;
  return out.str();
}

std::string describe(const std::vector<LayerDiagnostics>& layers) {
  std::string out;
  for (const auto& d : layers) {
    out += "\n  layer " + std::to_string(d.layer) + ": intra RMS " + number(d.values.intra_rms) +
           ", gated memory RMS " + number(d.values.gated_memory_rms) + ", gate mean " + number(d.values.gate_mean) +
           ", gate saturation " + number(d.values.gate_saturation);
  }
  return out;
}

// The line of an error that names the last good checkpoint (see Trainer::save_checkpoint).
std::string last_good(const std::string& checkpoint) {
  return "\nlast good checkpoint: " + (checkpoint.empty() ? std::string("none yet") : checkpoint);
}

} // namespace

model::HybridOptions student_hybrid_options(const config::Config& config) {
  TORCH_CHECK(
      config.hybrid.has_value(), "train: the config has no hybrid section; training converts the layers it names");
  auto options = *config.hybrid;
  options.lora = options.lora && config.train.stage >= 2;
  return options;
}

Trainer::Trainer(const config::Config& config, std::string config_hash, dist::Group group)
    : config_(config),
      config_hash_(std::move(config_hash)),
      group_(std::move(group)),
      rng_(at::make_generator<at::CPUGeneratorImpl>(config.train.seed)) {
  const auto& t = config_.train;
  const at::Device device(t.device);
  TORCH_CHECK(
      !device.is_cuda() || torch::cuda::is_available(),
      "train.device is ",
      t.device,
      " but no CUDA device is available (set train.device: cpu)");
  if (device.is_cpu()) {
    model::flush_cpu_denormals();
  }
  TORCH_CHECK(!config_.data.path.empty(), "data.path: not set; it names a folder of safetensors shards of clips");
  schedule_ = {t.lr, t.warmup_steps, t.steps, t.min_lr_ratio};
  schedule_.validate();
  flow_.emplace(config_.inference.generator.schedule);
  dataset_ = std::make_unique<ClipDataset>(config_.data.path);
  check_clips(*dataset_, config_);
  if (t.stage == 3) {
    check_rollouts();
  }
  sampler_ = std::make_unique<ShardedSampler>(dataset_->size(), t.seed, group_.rank(), group_.size());

  // Trainable parameters in float32 (or float64) whatever the base's dtype; autocast bridges the two.
  const auto dtype = model::dtype_named(t.dtype);
  autocast_ = dtype == at::kBFloat16;
  if (t.stage == 0) {
    build_teacher_training(device);
  } else {
    build_distillation(device);
  }
  student_->set_activation_checkpointing(t.activation_checkpointing);
  for (const auto& [name, p] : trainable_) {
    trainable_tensors_.push_back(p);
  }
  if (!t.init_from.empty()) {
    init_from(t.init_from);
  }
  group_.broadcast(trainable_tensors_);
  std::vector<at::Tensor> no_weight_decay;
  for (const auto& [index, layer] : hybrids_) {
    const auto declared = layer->no_weight_decay_parameters();
    no_weight_decay.insert(no_weight_decay.end(), declared.begin(), declared.end());
  }
  optimizer_ = make_adamw(trainable_, {t.lr, t.beta1, t.beta2, t.eps, t.weight_decay}, no_weight_decay);
  ema_ = std::make_unique<Ema>(trainable_, t.ema_decay, t.ema_start_step);
}

void Trainer::build_teacher_training(const at::Device& device) {
  TORCH_CHECK(
      config_.inference.checkpoint.empty(),
      "inference.checkpoint: stage 0 trains the teacher itself and loads none; start it from weights with "
      "train.init_from");
  // The whole model trains: in bfloat16 its weights, and the inputs with them, stay float32 under autocast.
  options_ = at::TensorOptions().dtype(autocast_ ? at::kFloat : model::dtype_named(config_.train.dtype)).device(device);
  student_ = make_teacher_to_train(config_, options_);
  for (const auto& p : student_->named_parameters()) {
    trainable_.emplace_back(p.key(), p.value());
  }
}

void Trainer::build_distillation(const at::Device& device) {
  // The teacher, frozen; the student on its tensors. The seed fixes the random teacher (if any) and the
  // hybrid layers' initialisation.
  const auto hybrid = student_hybrid_options(config_);
  options_ = at::TensorOptions().dtype(model::dtype_named(config_.train.dtype)).device(device);
  teacher_ = make_teacher(config_, config_.inference.checkpoint, options_);
  base_fingerprint_ = base_fingerprint(config_, config_.inference.checkpoint, options_);
  student_ = model::make_hybrid_student(*teacher_, hybrid);
  hybrids_ = model::hybrid_layers(*student_);
  for (const auto& group : model::group_parameters(*student_)) {
    if (group.name == "base") {
      continue;
    }
    for (const auto& [name, p] : group.parameters) {
      if (autocast_) {
        p.set_data(p.detach().to(at::kFloat));
      }
      trainable_.emplace_back(name, p);
    }
  }
}

void Trainer::init_from(const std::string& path) {
  const io::SafetensorsFile file(path);
  const bool teacher_training = config_.train.stage == 0;
  if (teacher_training && !is_training_checkpoint(file)) {
    model::load_weights(*student_, path);
    return;
  }
  const auto state = read_checkpoint_state(file);
  TORCH_CHECK(
      (state.stage == 0) == teacher_training,
      "train.init_from: '",
      path,
      "' is a stage-",
      state.stage,
      " checkpoint, ",
      teacher_training ? "a hybrid's parameters; stage 0 starts from a stage-0 checkpoint or a model's weights file"
                       : "a whole model; export it (arl2 export) and name the file in inference.checkpoint");
  check_base_weights(path, state, config_.inference.checkpoint, base_fingerprint_);
  const std::string prefix = "param.";
  std::map<std::string, at::Tensor> by_name(trainable_.begin(), trainable_.end());
  std::set<std::string> not_loaded;
  for (const auto& [name, p] : trainable_) {
    not_loaded.insert(name);
  }
  c10::NoGradGuard no_grad;
  for (const auto& key : file.keys()) {
    if (key.rfind(prefix, 0) != 0) {
      continue;
    }
    const auto name = key.substr(prefix.size());
    const auto it = by_name.find(name);
    TORCH_CHECK(
        it != by_name.end(), "train.init_from: '", path, "' holds '", name, "', not a trainable parameter of this run");
    io::copy_checked(file, key, it->second, "", c10::str("this run's is ", it->second.sizes(), " (train.init_from)"));
    not_loaded.erase(name);
  }
  // Stage 2 adds LoRA to what stage 1 trained; anything else a checkpoint lacks would train on from its fresh
  // initialisation without a word.
  std::set<std::string> added;
  if (state.stage < config_.train.stage) {
    for (const auto& group : model::group_parameters(*student_)) {
      for (const auto& [name, p] : group.parameters) {
        if (group.name == "lora") {
          added.insert(name);
        }
      }
    }
  }
  for (const auto& name : not_loaded) {
    TORCH_CHECK(
        added.count(name),
        "train.init_from: '",
        path,
        "' (a stage-",
        state.stage,
        " checkpoint) has no 'param.",
        name,
        "', a trainable parameter of this stage-",
        config_.train.stage,
        " run");
  }
}

void Trainer::check_rollouts() const {
  const auto& t = config_.train;
  const int64_t clip_blocks = dataset_->clip_shape()[0] / config_.inference.generator.frames_per_block;
  TORCH_CHECK(
      t.rollout_context_blocks <= clip_blocks,
      "train.rollout_context_blocks (",
      t.rollout_context_blocks,
      ") exceeds the ",
      clip_blocks,
      " blocks of the clips in data.path");
  const auto hybrid_layers = static_cast<int64_t>(
      model::hybrid_layer_indices(student_hybrid_options(config_), config_.model.num_layers).size());
  const int64_t bytes = rollout_bytes(config_, hybrid_layers, c10::elementSize(model::dtype_named(t.dtype)));
  int64_t needed = 0;
  const bool overflows = __builtin_mul_overflow(t.rollout_buffer + 1, bytes, &needed);
  const auto free_bytes = inference::free_device_bytes(at::Device(t.device));
  TORCH_CHECK(
      !free_bytes || (!overflows && needed <= *free_bytes),
      "train.rollout_buffer: ",
      t.rollout_buffer,
      " rollouts of ",
      inference::human_bytes(bytes),
      " each (both models' caches for train.rollout_frames = ",
      t.rollout_frames,
      " frames and the window's blocks) and one more in the making need ",
      overflows ? std::string("more bytes than 64 bits count") : inference::human_bytes(needed),
      ", more than the ",
      inference::human_bytes(*free_bytes),
      " free on ",
      t.device,
      "; keep fewer rollouts, shorter ones (train.rollout_frames) or a KV window (inference.kv_window_frames)");
}

void Trainer::refresh_rollouts() {
  const auto& g = config_.inference.generator;
  const auto lengths = rollout_lengths(config_);
  const int64_t shortest = lengths.shortest(), longest = lengths.longest_at(step_);
  rollouts_.clear(); // their memory serves the new ones
  model::AutocastScope autocast(options_.device().type(), {autocast_, at::kBFloat16});
  for (int64_t i = 0; i < config_.train.rollout_buffer; ++i) {
    const int64_t blocks = shortest + draw_for_this_rank(longest - shortest + 1);
    const auto seed = static_cast<uint64_t>(draw_for_this_rank(std::numeric_limits<int64_t>::max()));
    const auto [text, clips] = next_clips();
    const auto context = clips.narrow(1, 0, lengths.context_blocks * g.frames_per_block).permute({0, 2, 1, 3, 4});
    rollouts_.push_back(roll_out(student_, teacher_, g, text, context, blocks, lengths.window_blocks, seed));
  }
}

int64_t Trainer::draw_for_this_rank(int64_t high) {
  const auto draws = at::randint(high, {group_.size()}, rng_, at::TensorOptions().dtype(at::kLong));
  return draws[group_.rank()].item<int64_t>();
}

std::vector<int64_t> Trainer::hybrid_layer_indices() const {
  std::vector<int64_t> indices;
  for (const auto& [index, layer] : hybrids_) {
    indices.push_back(index);
  }
  return indices;
}

const std::vector<double>& Trainer::noise_levels() const {
  return config_.train.stage == 0 ? flow_->table_timesteps() : flow_->step_timesteps();
}

std::pair<at::Tensor, at::Tensor> Trainer::next_clips() {
  std::vector<at::Tensor> latents, text;
  for (int64_t b = 0; b < config_.train.batch_size; ++b) {
    auto clip = dataset_->get(sampler_->next());
    latents.push_back(clip.latents);
    text.push_back(clip.text_embeddings);
  }
  auto prompts = at::stack(text).to(options_);
  const double dropout = config_.train.prompt_dropout;
  if (dropout > 0) { // every rank's draws, this rank's kept (draw_for_this_rank)
    const auto keep = at::rand({group_.size(), config_.train.batch_size}, rng_)[group_.rank()] >= dropout;
    prompts = prompts * keep.to(prompts.options()).view({-1, 1, 1}); // the empty prompt (inference/guidance.h)
  }
  return {prompts, at::stack(latents).to(options_)};
}

Trainer::MicroBatch Trainer::next_micro_batch() {
  MicroBatch batch;
  if (config_.train.stage == 3) {
    const auto steps = static_cast<int64_t>(flow_->step_timesteps().size());
    batch.on_policy.rollout = draw_for_this_rank(static_cast<int64_t>(rollouts_.size()));
    batch.on_policy.step = draw_for_this_rank(steps);
    batch.on_policy.seed = static_cast<uint64_t>(draw_for_this_rank(std::numeric_limits<int64_t>::max()));
    if (config_.train.rollout_clip_loss_weight > 0) {
      draw_clip_input(batch);
    }
    return batch;
  }
  draw_clip_input(batch);
  return batch;
}

void Trainer::draw_clip_input(MicroBatch& batch) {
  at::Tensor clips;
  std::tie(batch.text, clips) = next_clips();
  const auto& g = config_.inference.generator;
  // The draws of every rank's micro-batch in rank order, this rank's kept: the generator stays the same on
  // all ranks (and in checkpoints), and the world draws what one process would over its micro-batches.
  for (int64_t r = 0; r < group_.size(); ++r) {
    if (r == group_.rank()) {
      batch.input =
          make_teacher_forcing_input(clips, *flow_, noise_levels(), g.frames_per_block, g.context_timestep, rng_);
    } else {
      make_teacher_forcing_input(
          at::zeros_like(clips), *flow_, noise_levels(), g.frames_per_block, g.context_timestep, rng_);
    }
  }
}

Trainer::MicroLoss Trainer::micro_loss(const MicroBatch& batch, PhaseTimes* phases) {
  PhaseTimes unused;
  auto& times = phases ? *phases : unused;
  model::AutocastScope autocast(options_.device().type(), {autocast_, at::kBFloat16});
  const auto& in = batch.input;
  const int64_t frames_per_block = config_.inference.generator.frames_per_block;
  if (config_.train.stage == 0) {
    auto loss = flow_matching_loss(
        student_->forward_teacher_forcing(in.noisy, in.noisy_t, in.clean, in.clean_t, batch.text, frames_per_block),
        in.flow);
    timer_.mark(times.student_forward_ms);
    return {loss, {}};
  }
  if (config_.train.stage == 3) {
    const auto& draw = batch.on_policy;
    const auto p = predict_after_rollout(
        *student_,
        *teacher_,
        *flow_,
        config_.inference.generator.context_timestep,
        rollouts_.at(draw.rollout),
        draw,
        timer_,
        times);
    auto loss = distillation_loss(p.student, p.teacher);
    const double clip_weight = config_.train.rollout_clip_loss_weight;
    if (clip_weight > 0) {
      loss = loss + clip_weight * clip_distillation_loss(batch, times).loss;
    }
    return {loss, {}};
  }
  if (config_.train.stage == 1) {
    const auto records = record_self_attention(*teacher_, hybrid_layer_indices(), [&] {
      teacher_->forward_teacher_forcing(in.noisy, in.noisy_t, in.clean, in.clean_t, batch.text, frames_per_block);
    });
    timer_.mark(times.teacher_forward_ms);
    auto loss = layer_alignment_loss(hybrids_, records);
    timer_.mark(times.student_forward_ms);
    return {loss.total, loss.per_layer};
  }
  return clip_distillation_loss(batch, times);
}

Trainer::MicroLoss Trainer::clip_distillation_loss(const MicroBatch& batch, PhaseTimes& times) {
  const auto& in = batch.input;
  const int64_t frames_per_block = config_.inference.generator.frames_per_block;
  const auto pass = [&](const model::WanDiT& model) {
    return model.forward_teacher_forcing(in.noisy, in.noisy_t, in.clean, in.clean_t, batch.text, frames_per_block);
  };
  const double guidance = config_.train.teacher_guidance_scale;
  const auto teacher_pass = [&] {
    if (guidance == 1.0) {
      return pass(*teacher_);
    }
    // The prompt's and the empty prompt's predictions in one batch, combined as the guided sampler does.
    const auto twice = [](const at::Tensor& x) { return at::cat({x, x}); };
    return inference::guided_flow(
        teacher_->forward_teacher_forcing(
            twice(in.noisy),
            twice(in.noisy_t),
            twice(in.clean),
            twice(in.clean_t),
            inference::with_empty_prompts(batch.text),
            frames_per_block),
        guidance);
  };
  at::Tensor target;
  const double layer_weight = config_.train.layer_loss_weight;
  std::vector<LayerRecord> records;
  {
    c10::NoGradGuard no_grad;
    if (layer_weight > 0) {
      records = record_self_attention(*teacher_, hybrid_layer_indices(), [&] { target = pass(*teacher_); });
    } else {
      target = teacher_pass();
    }
  }
  timer_.mark(times.teacher_forward_ms);
  auto loss = distillation_loss(pass(*student_), target);
  if (layer_weight > 0) {
    auto layers = layer_alignment_loss(hybrids_, records);
    loss = loss + layer_weight * layers.total;
    timer_.mark(times.student_forward_ms);
    return {loss, layers.per_layer};
  }
  timer_.mark(times.student_forward_ms);
  return {loss, {}};
}

StepResult Trainer::step() {
  const auto& t = config_.train;
  StepResult result;
  at::Tensor layer_sum;
  std::optional<MicroBatch> failing; // a distributed run's first micro-batch with a non-finite loss
  timer_.start();
  if (t.stage == 3) {
    if (step_ % t.rollout_refresh_steps == 0) {
      refresh_rollouts();
    }
    TORCH_CHECK(
        !rollouts_.empty(),
        "step ",
        step_ + 1,
        ": no rollouts; a stage-3 run resumed from its checkpoint at train.steps has no steps left");
    timer_.mark(result.phases.rollout_ms);
  }
  optimizer_->zero_grad();
  for (int64_t k = 0; k < t.grad_accumulation; ++k) {
    const auto batch = next_micro_batch();
    timer_.mark(result.phases.data_ms);
    const auto micro = micro_loss(batch, &result.phases);
    const double loss = micro.loss.item<double>();
    if (std::isfinite(loss)) {
      (micro.loss / static_cast<double>(t.grad_accumulation)).backward();
    } else if (!group_.is_distributed()) {
      fail_non_finite("the loss", loss, batch);
    } else if (!failing) {
      // The other ranks are on their way to the collectives below: this rank goes there too, and the mean
      // loss it carries there stops every rank at once instead of leaving them waiting for the timeout.
      failing = batch;
    }
    timer_.mark(result.phases.backward_ms);
    result.loss += loss / static_cast<double>(t.grad_accumulation);
    if (micro.layer_losses.defined()) {
      const auto l = micro.layer_losses.to(at::kCPU, at::kDouble);
      layer_sum = layer_sum.defined() ? layer_sum + l : l;
    }
  }
  if (group_.is_distributed()) {
    std::vector<at::Tensor> grads;
    for (auto& p : trainable_tensors_) {
      if (failing && !p.grad().defined()) { // no backward ran here: the others' buckets still hold this one
        p.mutable_grad() = at::zeros_like(p);
      }
      if (p.grad().defined()) {
        grads.push_back(p.grad());
      }
    }
    group_.all_reduce(grads, dist::Reduction::kMean);
    // The loss and the layer losses as means over the ranks, in one collective on the device NCCL needs.
    auto losses = at::tensor({result.loss}, at::TensorOptions().dtype(at::kDouble));
    if (layer_sum.defined()) {
      losses = at::cat({losses, layer_sum});
    }
    losses = losses.to(options_.device());
    group_.all_reduce({losses}, dist::Reduction::kMean);
    losses = losses.cpu();
    result.loss = losses[0].item<double>();
    if (layer_sum.defined()) {
      layer_sum = losses.slice(0, 1).contiguous();
    }
    if (!std::isfinite(result.loss)) {
      fail_non_finite("the mean loss over the ranks", result.loss, failing);
    }
    timer_.mark(result.phases.all_reduce_ms);
  }
  const double max_norm = t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<double>::infinity();
  result.grad_norm = torch::nn::utils::clip_grad_norm_(trainable_tensors_, max_norm);
  if (!std::isfinite(result.grad_norm)) {
    fail_non_finite("the gradient norm", result.grad_norm, std::nullopt);
  }
  if (!unproven_checkpoint_.empty()) { // its parameters gave this step's finite loss and gradient norm
    good_checkpoint_ = std::exchange(unproven_checkpoint_, "");
  }
  result.lr = schedule_.lr(step_);
  set_lr(*optimizer_, result.lr);
  optimizer_->step();
  ema_->update(step_);
  timer_.mark(result.phases.optimizer_ms);
  result.step = ++step_;
  if (layer_sum.defined()) {
    const auto mean = layer_sum / static_cast<double>(t.grad_accumulation);
    result.layer_losses.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  }
  return result;
}

void Trainer::fail_non_finite(const char* what, double value, const std::optional<MicroBatch>& batch) {
  std::vector<LayerDiagnostics> layers;
  if (batch) {
    // The failing micro-batch once more, without gradients, to see what the hybrid layers made of it.
    c10::NoGradGuard no_grad;
    set_diagnostics(true);
    micro_loss(*batch);
    layers = diagnostics();
  }
  TORCH_CHECK(
      false,
      what,
      " is ",
      number(value),
      " at step ",
      step_ + 1,
      "; the run stops before the optimizer step.",
      hybrids_.empty() ? std::string()
      : layers.empty() ? std::string(" Hybrid layers on the failing micro-batch: not recorded")
                       : " Hybrid layers on the failing micro-batch:" + describe(layers),
      last_good(good_checkpoint_),
      unproven_checkpoint_.empty()
          ? std::string()
          : "\n" + unproven_checkpoint_ +
                " holds the parameters that gave it: a run resumed from it fails the same way");
}

int64_t Trainer::trainable_numel() const {
  int64_t n = 0;
  for (const auto& [name, p] : trainable_) {
    n += p.numel();
  }
  return n;
}

void Trainer::set_phase_timing(bool on) {
  timer_.set_enabled(on, options_.device());
}

void Trainer::set_diagnostics(bool on) {
  for (auto& [i, hybrid] : hybrids_) {
    hybrid->set_diagnostics(on);
  }
}

std::vector<LayerDiagnostics> Trainer::diagnostics() const {
  std::vector<LayerDiagnostics> out;
  for (const auto& [i, hybrid] : hybrids_) {
    if (hybrid->diagnostics()) {
      out.push_back({i, *hybrid->diagnostics()});
    }
  }
  return out;
}

void Trainer::save_checkpoint(const std::string& path) {
  const auto& t = config_.train;
  TORCH_CHECK(
      t.stage != 3 || step_ % t.rollout_refresh_steps == 0 || step_ == t.steps,
      "a stage-3 checkpoint is written where new rollouts are due (every train.rollout_refresh_steps = ",
      t.rollout_refresh_steps,
      " steps) or at train.steps (",
      t.steps,
      "), so that a run resumed from it makes the rollouts this run makes; step ",
      step_,
      " is neither: ",
      path,
      " is not written");
  const auto non_finite = first_non_finite(checkpoint_tensors(trainable_, *optimizer_, *ema_));
  TORCH_CHECK(
      non_finite.empty(),
      "'",
      non_finite,
      "' holds a NaN or an infinity after step ",
      step_,
      ": its checkpoint ",
      path,
      " is not written and the run stops",
      last_good(good_checkpoint_));
  CheckpointState state;
  state.step = step_;
  state.stage = config_.train.stage;
  state.data = sampler_->position();
  state.config_hash = config_hash_;
  state.base_weights = config_.inference.checkpoint;
  state.base_fingerprint = base_fingerprint_;
  if (group_.rank() == 0) {
    train::save_checkpoint(path, trainable_, *optimizer_, *ema_, state, rng_);
  }
  group_.barrier();
  last_checkpoint_ = unproven_checkpoint_ = path;
}

void Trainer::resume(const std::string& path) {
  const auto state = load_checkpoint(path, trainable_, *optimizer_, *ema_, rng_, config_hash_);
  check_base_weights(path, state, config_.inference.checkpoint, base_fingerprint_);
  step_ = state.step;
  sampler_->set_position(state.data);
  last_checkpoint_ = unproven_checkpoint_ = path;
}

} // namespace arl2::train
