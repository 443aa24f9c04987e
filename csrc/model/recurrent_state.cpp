// RecurrentState (see recurrent_state.h).
#include "model/recurrent_state.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace arl2::model {

RecurrentState::RecurrentState(
    int64_t batch,
    int64_t heads,
    int64_t key_dim,
    int64_t value_dim,
    int64_t tokens_per_frame,
    at::ScalarType state_dtype,
    at::Device device)
    : tokens_per_frame_(tokens_per_frame) {
  TORCH_CHECK(
      batch > 0 && heads > 0 && key_dim > 0 && value_dim > 0,
      "RecurrentState: batch, heads, key_dim and value_dim must be positive");
  TORCH_CHECK(tokens_per_frame > 0, "RecurrentState: tokens_per_frame (", tokens_per_frame, ") must be positive");
  state_ = at::zeros({batch, heads, key_dim, value_dim}, at::TensorOptions().dtype(state_dtype).device(device));
}

namespace {

// Throws naming `what` unless `state` has the shape and dtype of `like`.
void check_like(const at::Tensor& state, const at::Tensor& like, const char* what) {
  TORCH_CHECK(
      state.sizes() == like.sizes() && state.scalar_type() == like.scalar_type(),
      "RecurrentState: ",
      what,
      " must be ",
      like.scalar_type(),
      " ",
      like.sizes(),
      ", got ",
      state.scalar_type(),
      " ",
      state.sizes());
}

} // namespace

void RecurrentState::advance(const at::Tensor& next, int64_t frames) {
  check_like(next, state_, "the next state");
  TORCH_CHECK(frames > 0, "RecurrentState: frames (", frames, ") must be positive");
  state_ = keeps_graph_ ? next : next.detach();
  frames_committed_ += frames;
}

void RecurrentState::restore(const at::Tensor& state, int64_t frames_committed) {
  check_like(state, state_, "a restored state");
  TORCH_CHECK(frames_committed >= 0, "RecurrentState: frames_committed (", frames_committed, ") must not be negative");
  state_ = state.detach().to(state_.device()).clone();
  frames_committed_ = frames_committed;
}

RecurrentState RecurrentState::clone() const {
  RecurrentState copy = *this;
  copy.state_ = state_.clone();
  return copy;
}

} // namespace arl2::model
