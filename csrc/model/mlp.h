// Linear -> activation -> Linear, registered as Wan's nn.Sequential registers it: the linears are
// children "0" and "2" (text_embedding, time_embedding, every block's ffn).
#pragma once

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "model/layers.h"

namespace arl2::model {

enum class Activation { kGeluTanh, kSilu };

at::Tensor activate(const at::Tensor& x, Activation activation);

class Mlp : public torch::nn::Module {
 public:
  Mlp(int64_t in_features,
      int64_t hidden_features,
      int64_t out_features,
      Activation activation,
      const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

  std::shared_ptr<Linear> fc_in, fc_out;

 private:
  Activation activation_;
};

} // namespace arl2::model
