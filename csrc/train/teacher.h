// The frozen teacher that a training run distils from, and that rollouts and exports rebuild: the
// base weights from a file, or random weights drawn from train.seed (tests, smoke runs, benchmarks),
// together with the fingerprint a checkpoint records of them; and the teacher that stage 0 trains.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/TensorBody.h>

#include "config/config.h"
#include "model/wan_dit.h"

namespace arl2::train {

// The teacher of `config`'s model in `options`, every parameter frozen: the weights at `base_path`, or
// with "" random weights (model::draw_random_weights) drawn from train.seed. Seeds the default generator
// with train.seed first either way, so that the hybrid layers built after it start the same in every
// run of that seed.
std::shared_ptr<model::WanDiT> make_teacher(
    const config::Config& config, const std::string& base_path, const at::TensorOptions& options);

// The teacher stage 0 trains, in `options`: Wan's initialisation (model/wan_dit.h) drawn after seeding the
// default generator with train.seed, every parameter trainable.
std::shared_ptr<model::WanDiT> make_teacher_to_train(const config::Config& config, const at::TensorOptions& options);

// What a checkpoint records of the base make_teacher builds: io::file_fingerprint of `base_path`, or
// for random weights "random:seed=<train.seed>:<dtype>:<device type>", the three the draw depends on.
std::string base_fingerprint(
    const config::Config& config, const std::string& base_path, const at::TensorOptions& options);

} // namespace arl2::train
