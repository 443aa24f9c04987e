// The toy evaluation behind `arl2 eval` (eval/): continuation scores a perfect continuer 0 and the
// copy-last-frame baseline as a hand computation does, a model's continuation reads the true context it is
// given, the teacher-forcing gap is 0 against the teacher itself and not against a hybrid of it, the whole run
// on random toy models gives every row its per-frame arrays, per-tenth means and block flicker, and a request
// that cannot work is refused before any model is built, naming the option or the config.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "catch.h"
#include "config/config.h"
#include "eval/continuation.h"
#include "eval/eval_clips.h"
#include "eval/eval_report.h"
#include "eval/teacher_forcing_gap.h"
#include "eval/toy_eval.h"
#include "inference/flow_matching.h"
#include "model/conversion.h"
#include "model_test_util.h"

namespace arl2::test {
namespace {

// The toy preset at 16 x 16 in blocks of 2 frames with a two-step sampler: a whole evaluation in about a second.
std::string toy_yaml(const std::string& extra_inference = "", const std::string& sections = "") {
  return "model:\n  preset: toy\n" + sections +
         "inference:\n  shift: 1.0\n  frames_per_block: 2\n  latent_height: 16\n  latent_width: 16\n"
         "  denoising_steps: [1000, 500]\n  device: cpu\n  dtype: float32\n" +
         extra_inference;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  return text.replace(text.find(from), from.size(), to);
}

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

// What `arl2 eval` builds with no checkpoint, but with random weights of a trained model's scale (a fresh Wan
// model predicts zeros) drawn from one seed, so that a hybrid keeps the teacher's weights where it is not
// converted.
std::shared_ptr<model::WanDiT> random_model(const config::Config& config, const std::string&) {
  auto m = std::make_shared<model::WanDiT>(config.model, torch::dtype(torch::kFloat32));
  model::draw_random_weights(*m, at::make_generator<at::CPUGeneratorImpl>(7));
  if (config.hybrid) {
    model::convert_to_hybrid(*m, *config.hybrid);
  }
  return m;
}

TEST_CASE("continuation: a continuer that knows the truth scores 0 on every predicted frame", "[eval]") {
  const auto truth = torch::randn({2, 3, 6, 4, 4});
  const auto oracle = [&](const torch::Tensor& context, int64_t frames) {
    return truth.slice(2, context.size(2), context.size(2) + frames);
  };
  const auto mse = eval::continuation_mse(truth, 2, oracle);
  CHECK(mse == std::vector<double>(4, 0.0));
}

TEST_CASE("continuation: copying the last context frame, by hand", "[eval]") {
  // One clip, one channel, 1 x 2 pixels: frames (0, 0), (1, 3), (2, -1).
  const auto truth = torch::tensor({0., 0., 1., 3., 2., -1.}).view({1, 1, 3, 1, 2});
  // From frame 0: ((1 - 0)^2 + (3 - 0)^2) / 2 and ((2 - 0)^2 + (-1 - 0)^2) / 2.
  CHECK(eval::continuation_mse(truth, 1, eval::copy_last_frame()) == std::vector<double>{5, 2.5});
  // From frame 1: ((2 - 1)^2 + (-1 - 3)^2) / 2.
  CHECK(eval::continuation_mse(truth, 2, eval::copy_last_frame()) == std::vector<double>{8.5});
}

TEST_CASE("a model's continuation reads the true context it is given, and the seed decides its noise", "[eval]") {
  const auto config = config::parse_config(toy_yaml(), "toy.yaml");
  const auto dit = random_model(config, "");
  const auto clips = eval::make_eval_clips(1000, 2, 16, 6);
  const auto text = eval::prompt_embeddings(clips.prompts, config.model);
  const auto& g = config.inference.generator;
  const auto context = clips.truth.slice(2, 0, 2);
  const auto a = eval::generated_continuation(dit, g, text, 1)(context, 4);
  CHECK(a.sizes() == torch::IntArrayRef({2, 3, 4, 16, 16}));
  CHECK(torch::equal(a, eval::generated_continuation(dit, g, text, 1)(context, 4)));
  CHECK_FALSE(torch::equal(a, eval::generated_continuation(dit, g, text, 1)(torch::zeros_like(context), 4)));
  CHECK_FALSE(torch::equal(a, eval::generated_continuation(dit, g, text, 2)(context, 4)));
  CHECK(error_of([&] {
          eval::generated_continuation(dit, g, text, 1)(clips.truth.slice(2, 0, 3), 2);
        }).find("the 3 context frames must be whole blocks of inference.frames_per_block = 2") != std::string::npos);
}

TEST_CASE("the teacher-forcing gap is 0 against the teacher itself and not against its hybrid", "[eval]") {
  const auto teacher_config = config::parse_config(toy_yaml(), "teacher.yaml");
  const auto hybrid_config = config::parse_config(toy_yaml("", "hybrid:\n  ratio: 0.5\n"), "hybrid.yaml");
  const auto teacher = random_model(teacher_config, ""), hybrid = random_model(hybrid_config, "");
  const auto clips = eval::make_eval_clips(1000, 2, 16, 4);
  const auto text = eval::prompt_embeddings(clips.prompts, teacher_config.model);
  const inference::FlowMatchSchedule schedule(teacher_config.inference.generator.schedule);
  const auto gap = [&](const std::shared_ptr<model::WanDiT>& student) {
    return eval::teacher_forcing_gap({student, text}, {teacher, text}, schedule, 0.0, 2, clips.truth, 3);
  };
  const auto self = gap(teacher);
  CHECK(self.timesteps == schedule.step_timesteps());
  CHECK(self.mse_per_frame == std::vector<double>(4, 0.0));
  CHECK(self.mse_per_timestep == std::vector<double>(2, 0.0));
  const auto other = gap(hybrid);
  REQUIRE(other.mse_per_frame.size() == 4);
  REQUIRE(other.mse_per_timestep.size() == 2);
  // The first block has no earlier block to remember: the hybrid layers' memory is empty and their local
  // softmax is the teacher's. From the second block on, memory takes the place of the teacher's attention.
  CHECK(other.mse_per_frame[0] == 0);
  CHECK(other.mse_per_frame[1] == 0);
  CHECK(other.mse_per_frame[2] > 0);
  CHECK(other.mse_per_frame[3] > 0);
  double mean = 0;
  for (const double e : other.mse_per_timestep) {
    mean += e / 2;
  }
  CHECK(std::abs(other.mean - mean) < 1e-12);
}

TEST_CASE("arl2 eval's run on random toy models: every row, every metric, per frame", "[eval]") {
  TempDir dir;
  eval::EvalRequest request;
  request.teacher_config = write(dir, "teacher.yaml", toy_yaml());
  request.models = {"h50=" + write(dir, "hybrid.yaml", toy_yaml("", "hybrid:\n  ratio: 0.5\n"))};
  request.overrides = {"inference.denoising_steps=[1000, 750, 500]"};
  request.options.clips = 2;
  request.options.lengths = {4, 8};
  request.options.predict_blocks = 2;
  std::vector<std::string> log;
  const auto report = eval::run_toy_eval(request, random_model, [&](const std::string& line) { log.push_back(line); });

  auto json = nlohmann::ordered_json::parse(eval::eval_json(report));
  CHECK(json["clips"] == 2);
  CHECK(json["seed"] == 1000);
  CHECK(json["lengths"].get<std::vector<int64_t>>() == std::vector<int64_t>{4, 8});
  CHECK(json["frames_per_block"] == 2);
  CHECK(json["frame_size"] == 16);
  // The rollout lengths' tenths and the continuation's 4 predicted frames' (the same count as a length).
  CHECK(json["tenth_bounds"].size() == 2);
  CHECK(json["tenth_bounds"]["4"].get<std::vector<int64_t>>() == std::vector<int64_t>{0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4});
  CHECK(json["tenth_bounds"]["8"].get<std::vector<int64_t>>() == std::vector<int64_t>{0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 8});
  std::vector<std::string> rows;
  for (const auto& [name, row] : json["models"].items()) {
    rows.push_back(name);
  }
  CHECK(rows == std::vector<std::string>{"truth", "copy_last_frame", "teacher", "h50"});
  auto& models = json["models"]; // not const: a missing key fails a check rather than the test

  for (const auto* name : {"truth", "teacher", "h50"}) {
    INFO(name);
    auto& rollout = models[name]["rollout"];
    CHECK(rollout["frames"] == 8);
    for (const auto* metric : {"colour_recall", "spurious_colours", "count_error", "centroid_accel", "frame_change"}) {
      CHECK(rollout["per_frame"][metric].size() == 8);
      CHECK(rollout["means"]["4"].contains(metric));
      CHECK(rollout["means"]["8"].contains(metric));
      CHECK(rollout["tenths"]["4"][metric].size() == 10);
      CHECK(rollout["tenths"]["8"][metric].size() == 10);
    }
    CHECK(rollout["per_frame"]["frame_change"][0].is_null());   // no frame before the first
    CHECK(rollout["tenths"]["8"]["frame_change"][0].is_null()); // frame 0 alone
    CHECK(rollout["tenths"]["8"]["colour_recall"][0] == rollout["per_frame"]["colour_recall"][0]);
    CHECK(rollout["tenths"]["4"]["colour_recall"][1].is_null()); // no frame
    for (const auto* length : {"4", "8"}) {
      auto& flicker = rollout["block_flicker"][length];
      CHECK(flicker["boundary_change"].get<double>() > 0);
      CHECK(flicker["inside_change"].get<double>() > 0);
      // JSON keeps a double exactly, so the division gives the same number.
      CHECK(
          flicker["ratio"].get<double>() ==
          flicker["boundary_change"].get<double>() / flicker["inside_change"].get<double>());
    }
  }
  for (const auto* name : {"copy_last_frame", "teacher", "h50"}) {
    INFO(name);
    auto& continuation = models[name]["continuation"];
    CHECK(continuation["first_frame"] == 2);
    CHECK(continuation["mse_per_frame"].size() == 4);
    CHECK(continuation["mean"].is_number());
    CHECK(continuation["mse_per_tenth"].size() == 10);
    CHECK(continuation["mse_per_tenth"][7] == continuation["mse_per_frame"][3]);
    CHECK(continuation["mse_per_tenth"][9].is_null()); // no frame
  }
  CHECK_FALSE(models["teacher"].contains("teacher_forcing"));
  auto& tf = models["h50"]["teacher_forcing"];
  CHECK(tf["timesteps"].size() == 3); // the --set override reached every config
  CHECK(tf["mse_per_frame"].size() == 6);
  CHECK(tf["mse_per_timestep"].size() == 3);
  CHECK(tf["mean"].get<double>() > 0);
  CHECK(models["h50"]["source"]["hybrid_layers"] == 2);
  CHECK(
      models["teacher"]["source"]["denoising_steps"].get<std::vector<int64_t>>() ==
      std::vector<int64_t>{1000, 750, 500});
  CHECK_FALSE(models["teacher"]["source"]["config_hash"].get<std::string>().empty());
  const double recall = models["truth"]["rollout"]["means"]["8"]["colour_recall"].get<double>();
  CHECK(recall > 0);
  CHECK(recall <= 1);

  const auto table = eval::summary_table(report);
  INFO(table);
  for (const auto& name : rows) {
    CHECK(table.find("\n" + name + " ") != std::string::npos);
  }
  // The tenths table: a row for each model with rollouts, the copy-last-frame baseline in the means table only.
  const auto tenths = table.substr(table.find("rollouts of 8 frames at the start, middle and end"));
  CHECK(tenths.find("-- colour_recall --") != std::string::npos);
  CHECK(tenths.find("ratio\n") != std::string::npos);
  for (const auto* name : {"\ntruth ", "\nteacher ", "\nh50 "}) {
    CHECK(tenths.find(name) != std::string::npos);
  }
  CHECK(tenths.find("\ncopy_last_frame ") == std::string::npos);
  const auto logged = [&](const std::string& line) {
    for (const auto& l : log) {
      if (l.find(line) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  CHECK(logged("teacher: rollout at 4 frames"));
  CHECK(logged("h50: rollout at 8 frames"));
  CHECK(logged("h50: teacher forcing against the teacher at 3 timesteps"));
}

TEST_CASE("arl2 eval refuses what cannot work before building a model, naming the option or config", "[eval][errors]") {
  TempDir dir;
  const auto teacher = write(dir, "teacher.yaml", toy_yaml());
  const auto message = [&](const eval::EvalRequest& r) {
    int built = 0;
    const auto count = [&](const config::Config& c, const std::string& p) {
      ++built;
      return random_model(c, p);
    };
    const auto m = error_of([&] { eval::run_toy_eval(r, count); });
    CHECK(built == 0);
    return m;
  };
  const auto request = [&](std::vector<std::string> models = {}) {
    eval::EvalRequest r;
    r.teacher_config = teacher;
    r.models = std::move(models);
    r.options.clips = 1;
    r.options.lengths = {4};
    return r;
  };

  auto r = request();
  r.options.lengths = {4, 5};
  CHECK(contains(message(r), "--lengths: 5 frames is not a positive whole number of blocks of 2 frames"));
  r = request();
  r.options.clips = 0;
  CHECK(contains(message(r), "--clips: expected at least one clip, got 0"));
  r = request();
  r.options.predict_blocks = 0;
  CHECK(contains(message(r), "--predict-blocks: expected at least one block"));

  CHECK(contains(message(request({"h 50=" + teacher})), "--model 'h 50=" + teacher + "': the name 'h 50' may hold"));
  CHECK(contains(message(request({teacher})), "': expected NAME=CONFIG"));
  CHECK(contains(message(request({"a=" + teacher, "a=" + teacher})), "--model: the name 'a' is given twice"));
  CHECK(contains(message(request({"truth=" + teacher})), "'truth' names a row of its own"));

  const auto tiny = write(dir, "tiny.yaml", "model:\n  preset: tiny\ninference:\n  device: cpu\n");
  CHECK(contains(
      message(request({"t=" + tiny})),
      tiny + ": arl2 eval measures toy-domain models, whose latents are RGB pixels (model.in_dim and model.out_dim "
             "3); this one has in_dim 16"));
  const auto hybrid = write(dir, "hybrid.yaml", toy_yaml("", "hybrid:\n  ratio: 0.5\n"));
  r = request();
  r.teacher_config = hybrid;
  CHECK(contains(message(r), "--teacher " + hybrid + ": the config has a hybrid section"));
  const auto wide = write(dir, "wide.yaml", replaced(toy_yaml(), "latent_width: 16", "latent_width: 20"));
  CHECK(contains(
      message(request({"w=" + wide})),
      wide + ": toy frames are square, but inference.latent_height (16) and inference.latent_width (20) differ"));
  const auto blocks = write(dir, "blocks.yaml", replaced(toy_yaml(), "frames_per_block: 2", "frames_per_block: 4"));
  CHECK(contains(
      message(request({"b=" + blocks})), blocks + ": inference.frames_per_block (4) differs from the teacher's (2)"));
}

} // namespace
} // namespace arl2::test
