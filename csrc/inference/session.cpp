// Session (see session.h).
#include "inference/session.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "io/fields_json.h"
#include "io/safetensors.h"
#include "io/value_checks.h"
#include "model/conversion.h"
#include "model/weights.h"

namespace arl2::inference {
namespace {

constexpr const char* kFormat = "arl2 session 1";

// Whether some layer keeps a KV cache: a softmax layer, whose window a session keeps the latents of.
bool has_windows(const std::vector<model::LayerCache>& caches) {
  return std::any_of(caches.begin(), caches.end(), [](const auto& c) { return c.as_kv_cache() != nullptr; });
}

std::string layer_key(size_t layer, const char* part) {
  return "layers." + std::to_string(layer) + "." + part;
}

// One letter per layer: S for a softmax layer, H for a hybrid layer.
std::string layer_kinds(const model::WanDiT& model) {
  std::string kinds(model.blocks().size(), 'S');
  for (const auto& [index, layer] : model::hybrid_layers(model)) {
    kinds[index] = 'H';
  }
  return kinds;
}

// The generation options a saved state depends on, as JSON: all but cuda_graphs, which changes how a block runs,
// not what it makes.
nlohmann::json state_options(const GeneratorOptions& options) {
  auto json = io::fields_to_json(options);
  json.erase("cuda_graphs");
  return json;
}

// What a saved state belongs to; load compares each entry with the generator's.
std::map<std::string, std::string> identity(const model::WanDiT& model, const GeneratorOptions& options) {
  const auto weight = model.parameters().front();
  return {
      {"model", io::fields_to_json(model.config()).dump()},
      {"layers", layer_kinds(model)},
      {"weights", model::weights_fingerprint(model)},
      {"dtype", c10::toString(weight.scalar_type())},
      {"device_type", c10::DeviceTypeName(weight.device().type(), /*lower_case=*/true)},
      {"inference", state_options(options).dump()},
  };
}

// Throws naming the first key of the JSON objects `saved` and `here` whose values differ.
void check_same_fields(
    const std::string& path, const std::string& section, const std::string& saved, const std::string& here) {
  const auto a = nlohmann::json::parse(saved);
  const auto b = nlohmann::json::parse(here);
  for (const auto& [key, value] : b.items()) {
    const auto it = a.find(key);
    const std::string was = it == a.end() ? "nothing" : it->dump();
    TORCH_CHECK(
        it != a.end() && *it == value,
        path,
        ": the session was saved with ",
        section,
        ".",
        key,
        " = ",
        was,
        ", this generator has ",
        value.dump());
  }
}

void check_identity(
    const std::string& path,
    const std::map<std::string, std::string>& saved,
    const std::map<std::string, std::string>& here) {
  const auto value = [&](const std::string& key) {
    const auto it = saved.find(key);
    TORCH_CHECK(it != saved.end(), path, ": not a saved session: its metadata has no '", key, "'");
    return it->second;
  };
  TORCH_CHECK(
      value("format") == kFormat,
      path,
      ": a saved session of format '",
      value("format"),
      "', this build reads '",
      kFormat,
      "'");
  check_same_fields(path, "model", value("model"), here.at("model"));
  TORCH_CHECK(
      value("layers") == here.at("layers"),
      path,
      ": the session was saved from a model whose layers are ",
      value("layers"),
      ", this model's are ",
      here.at("layers"),
      " (S: softmax, H: hybrid): another hybrid.ratio or hybrid.policy");
  for (const char* key : {"dtype", "device_type"}) {
    TORCH_CHECK(
        value(key) == here.at(key),
        path,
        ": the session was saved from a model of ",
        key,
        " ",
        value(key),
        ", this model's is ",
        here.at(key));
  }
  TORCH_CHECK(
      value("weights") == here.at("weights"),
      path,
      ": the session was saved from other weights (fingerprint ",
      value("weights"),
      ", this model's ",
      here.at("weights"),
      ")");
  check_same_fields(path, "inference", value("inference"), here.at("inference"));
}

int64_t read_count(const std::string& path, const std::map<std::string, std::string>& metadata, const char* key) {
  const auto it = metadata.find(key);
  TORCH_CHECK(it != metadata.end(), path, ": not a saved session: its metadata has no '", key, "'");
  const auto& text = it->second;
  const bool digits = !text.empty() && text.size() < 19 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  TORCH_CHECK(digits, path, ": metadata '", key, "' must be a count, got '", text, "'");
  return std::stoll(text);
}

// `tensor` read from `file` into a new tensor of `shape` like `like`, checked as every loader checks.
at::Tensor read_checked(
    const io::SafetensorsFile& file, const std::string& key, at::IntArrayRef shape, const at::TensorOptions& like) {
  auto into = at::empty(shape, like);
  io::copy_checked(file, key, into, "not a saved session of this model: no '" + key + "'", "the session expects this");
  return into;
}

} // namespace

Session::Session(const ARGenerator& generator, const at::Tensor& text, uint64_t seed, bool timed)
    : Session(
          [&] {
            check_text_embeddings(generator.model()->config(), text);
            const auto& options = generator.options();
            const auto& model = *generator.model();
            const auto softmax_layers =
                static_cast<int64_t>(model.blocks().size() - model::hybrid_layers(model).size());
            TORCH_CHECK(
                softmax_layers == 0 || options.kv.window_frames > 0,
                "Session: the model's ",
                softmax_layers,
                " softmax layers keep keys and values that grow with the video, and a session has no end: set "
                "inference.kv_window_frames (with inference.kv_sink_frames) to hold them in a rolling window");
            const model::KVCacheSpec spec{options.kv.window_frames, options.kv.sink_frames, /*rolling=*/true};
            return generator.open_run(text, /*num_blocks=*/-1, spec, seed, timed);
          }(),
          text,
          at::Tensor()) {}

Session::Session(GenerationRun run, at::Tensor prompt, at::Tensor held_latents)
    : run_(std::move(run)), prompt_(prompt.to(run_.text_.device())), held_latents_(std::move(held_latents)) {}

int64_t Session::frames_done() const {
  return run_.caches().front().frames_committed();
}

FinishedBlock Session::next() {
  auto block = run_.next();
  const auto& options = run_.options_;
  if (has_windows(run_.caches_)) {
    // As the windows do (KVCache::append): once past the window, the sink frames and the most recent others.
    auto held = held_latents_.defined() ? at::cat({held_latents_, block.latents}, 2) : block.latents;
    const int64_t window = options.kv.window_frames, sink = options.kv.sink_frames;
    if (held.size(2) > window) {
      held = at::cat({held.narrow(2, 0, sink), held.narrow(2, held.size(2) - (window - sink), window - sink)}, 2);
    }
    held_latents_ = held;
  }
  return block;
}

void Session::set_prompt(const at::Tensor& text, bool recache) {
  run_.set_prompt(text);
  prompt_ = text.to(run_.text_.device());
  if (recache && held_latents_.defined()) {
    this->recache();
  }
}

void Session::recache() {
  at::NoGradGuard no_grad;
  const auto& model = *run_.model_;
  const auto& options = run_.options_;
  const int64_t frames = frames_done(), held = held_latents_.size(2);
  // The windows hold the first `sink` frames and the `held - sink` most recent ones.
  const int64_t sink = std::min(options.kv.sink_frames, held);
  const int64_t recent_start = frames - (held - sink);
  // Fresh windows for the softmax layers; the hybrid layers read copies of their states, which these passes write.
  const model::KVCacheSpec spec{options.kv.window_frames, options.kv.sink_frames, /*rolling=*/true};
  auto fresh = model.make_caches(run_.text_.size(0), options.latent_height, options.latent_width, spec);
  std::vector<model::LayerCache> caches;
  for (size_t i = 0; i < fresh.size(); ++i) {
    caches.push_back(run_.caches_[i].as_kv_cache() != nullptr ? std::move(fresh[i]) : run_.caches_[i].clone());
    caches.back().forget_prompt();
  }
  // Commits latents [B, C, n, H, W] whose first frame is `first`, in the blocks they were made in.
  const auto commit_frames = [&](const at::Tensor& latents, int64_t first) {
    for (auto& cache : caches) { // every layer starts the pass at `first` (WanDiT reads the position of layer 0)
      if (cache.as_kv_cache() != nullptr) {
        auto& kv = cache.kv_cache("Session");
        const auto [k, v] = kv.committed();
        kv.restore(k.clone(), v.clone(), first);
      } else {
        auto& state = cache.recurrent_state("Session");
        state.restore(state.state(), first);
      }
    }
    const int64_t fpb = options.frames_per_block;
    for (int64_t done = 0; done < latents.size(2);) {
      const int64_t frame = first + done;
      const int64_t n = std::min(fpb - frame % fpb, latents.size(2) - done);
      const auto x0 = run_.for_every_pass(latents.narrow(2, done, n));
      const auto t = at::full({x0.size(0), n}, options.context_timestep, run_.text_.options().dtype(at::kFloat));
      model.commit_cached(x0, t, run_.text_, caches);
      done += n;
    }
  };
  if (sink > 0) {
    commit_frames(held_latents_.narrow(2, 0, sink), 0);
  }
  commit_frames(held_latents_.narrow(2, sink, held - sink), recent_start);
  for (size_t i = 0; i < caches.size(); ++i) {
    if (run_.caches_[i].as_kv_cache() != nullptr) {
      run_.caches_[i] = std::move(caches[i]);
    }
  }
}

Session Session::fork() const {
  std::vector<model::LayerCache> caches;
  for (const auto& cache : run_.caches_) {
    caches.push_back(cache.clone());
  }
  at::Generator source = run_.noise_; // a handle: its mutex guards the shared generator
  at::Generator noise;
  {
    std::lock_guard<std::mutex> lock(source.mutex());
    noise = source.clone();
  }
  GenerationRun run(
      run_.model_, run_.schedule_, run_.options_, run_.text_, std::move(caches), -1, std::move(noise), run_.timed_);
  run.blocks_done_ = run_.blocks_done_;
  return Session(std::move(run), prompt_, held_latents_);
}

void Session::save(const std::string& path) const {
  auto metadata = identity(*run_.model_, run_.options_);
  metadata["format"] = kFormat;
  metadata["frames_committed"] = std::to_string(frames_done());
  metadata["blocks_done"] = std::to_string(run_.blocks_done_);
  std::vector<std::pair<std::string, at::Tensor>> tensors{{"prompt", prompt_}};
  {
    at::Generator source = run_.noise_;
    std::lock_guard<std::mutex> lock(source.mutex());
    tensors.emplace_back("noise_generator", source.get_state());
  }
  if (held_latents_.defined()) {
    tensors.emplace_back("held_latents", held_latents_);
  }
  for (size_t i = 0; i < run_.caches_.size(); ++i) {
    const auto& cache = run_.caches_[i];
    if (const auto* kv = cache.as_kv_cache()) {
      const auto [k, v] = kv->committed();
      tensors.emplace_back(layer_key(i, "k"), k);
      tensors.emplace_back(layer_key(i, "v"), v);
    } else {
      tensors.emplace_back(layer_key(i, "state"), cache.as_recurrent_state()->state());
    }
  }
  io::save_safetensors(path, tensors, metadata);
}

Session Session::load(const ARGenerator& generator, const std::string& path, bool timed) {
  const io::SafetensorsFile file(path);
  const auto& metadata = file.metadata();
  const auto& model = *generator.model();
  const auto& options = generator.options();
  const auto weight = model.parameters().front();
  check_identity(path, metadata, identity(model, options));
  const int64_t frames = read_count(path, metadata, "frames_committed");
  const int64_t blocks = read_count(path, metadata, "blocks_done");
  TORCH_CHECK(
      frames == blocks * options.frames_per_block,
      path,
      ": metadata frames_committed (",
      frames,
      ") must be blocks_done (",
      blocks,
      ") blocks of inference.frames_per_block = ",
      options.frames_per_block);
  TORCH_CHECK(file.contains("prompt"), path, ": not a saved session: no 'prompt'");
  const auto prompt = file.tensor("prompt");
  io::check_finite_floats(prompt, path, "prompt");

  Session session(generator, prompt, /*seed=*/0, timed); // checks the prompt, allocates the caches
  auto& run = session.run_;
  const int64_t batch = run.text_.size(0);
  const int64_t held = has_windows(run.caches_) ? std::min(frames, options.kv.window_frames) : 0;
  for (size_t i = 0; i < run.caches_.size(); ++i) {
    auto& cache = run.caches_[i];
    if (cache.as_kv_cache() != nullptr) {
      auto& kv = cache.kv_cache("Session.load");
      const auto like = kv.committed().first;
      const std::vector<int64_t> shape{batch, held * kv.tokens_per_frame(), like.size(2), like.size(3)};
      kv.restore(
          read_checked(file, layer_key(i, "k"), shape, like.options()),
          read_checked(file, layer_key(i, "v"), shape, like.options()),
          frames);
    } else {
      auto& state = cache.recurrent_state("Session.load");
      state.restore(read_checked(file, layer_key(i, "state"), state.state().sizes(), state.state().options()), frames);
    }
  }
  if (held > 0) {
    const auto& c = model.config();
    session.held_latents_ = read_checked(
        file,
        "held_latents",
        {prompt.size(0), c.in_dim, held, options.latent_height, options.latent_width},
        weight.options());
  }
  TORCH_CHECK(file.contains("noise_generator"), path, ": not a saved session: no 'noise_generator'");
  const auto noise_state = file.tensor("noise_generator");
  try {
    run.noise_.set_state(noise_state);
  } catch (const c10::Error& e) {
    TORCH_CHECK(
        false,
        path,
        ": 'noise_generator' is not a noise generator's state of this device: ",
        e.what_without_backtrace());
  }
  run.blocks_done_ = blocks;
  return session;
}

} // namespace arl2::inference
