// Continuation and its two continuers (see continuation.h).
#include "eval/continuation.h"

#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "inference/generator.h"

namespace arl2::eval {

std::vector<double> continuation_mse(
    const at::Tensor& truth, int64_t context_frames, const Continuation& continuation) {
  TORCH_CHECK(truth.dim() == 5, "continuation: the truth must be [B, C, F, H, W], got ", truth.sizes());
  const int64_t frames = truth.size(2) - context_frames;
  TORCH_CHECK(context_frames > 0, "continuation: expected at least one context frame, got ", context_frames);
  TORCH_CHECK(
      frames > 0, "continuation: ", context_frames, " context frames leave nothing to predict in ", truth.size(2));
  const auto predicted = continuation(truth.slice(2, 0, context_frames), frames);
  const auto expected = truth.slice(2, context_frames);
  TORCH_CHECK(
      predicted.sizes() == expected.sizes(),
      "continuation: predicted ",
      predicted.sizes(),
      " where the truth is ",
      expected.sizes());
  const auto mse =
      (predicted.to(at::kCPU, at::kDouble) - expected.to(at::kCPU, at::kDouble)).square().mean({0, 1, 3, 4});
  return std::vector<double>(mse.data_ptr<double>(), mse.data_ptr<double>() + frames);
}

Continuation copy_last_frame() {
  return [](const at::Tensor& context, int64_t frames) {
    auto sizes = context.sizes().vec();
    sizes[2] = frames;
    return context.slice(2, -1).expand(sizes);
  };
}

Continuation generated_continuation(
    std::shared_ptr<const model::WanDiT> model,
    const inference::GeneratorOptions& options,
    at::Tensor text,
    uint64_t seed) {
  return [model = std::move(model), options, text = std::move(text), seed](const at::Tensor& context, int64_t frames) {
    const int64_t fpb = options.frames_per_block;
    TORCH_CHECK(
        context.size(2) % fpb == 0,
        "continuation: the ",
        context.size(2),
        " context frames must be whole blocks of inference.frames_per_block = ",
        fpb);
    const inference::ARGenerator generator(model, options);
    auto run = generator.start(text, context.size(2) + frames, seed);
    const auto weights = model->parameters().front().options();
    for (int64_t first = 0; first < context.size(2); first += fpb) {
      run.commit(context.slice(2, first, first + fpb).to(weights).contiguous());
    }
    std::vector<at::Tensor> blocks;
    while (!run.done()) {
      const auto x0 = run.denoise_next();
      run.commit(x0);
      blocks.push_back(x0.to(at::kCPU, at::kFloat));
    }
    return at::cat(blocks, 2);
  };
}

} // namespace arl2::eval
