// Argument checks shared by the CPU, CUDA and Meta kernels of the GDN ops, and the translation from
// tensors to the torch-free parameter structs. Checks use symbolic sizes so the Meta kernels can run
// them under torch.compile's dynamic shapes. Errors name the op, the argument and what was expected.
#pragma once

#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "../kernels/common/gdn_params.h"
#include "kernel_dtype.h"

namespace arl2::detail {

// float64 inputs keep float64 states (the CPU reference path); every other input dtype gets float32.
at::ScalarType gdn_state_dtype(at::ScalarType input_dtype);

void check_scan_args(
    const char* op,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    int64_t block_len,
    const std::optional<at::Tensor>& initial_state);

void check_scan_backward_args(
    const char* op,
    const std::optional<at::Tensor>& d_states,
    const std::optional<at::Tensor>& d_final_state,
    const at::Tensor& k,
    const at::Tensor& v,
    const at::Tensor& g,
    const at::Tensor& beta,
    const at::Tensor& states,
    const at::Tensor& transitions,
    int64_t block_len);

// The transitions' shape [B, max(NB - 1, 0), H, K, K] for k [B, T, H, K].
std::vector<c10::SymInt> gdn_transitions_shape(const at::Tensor& k, int64_t block_len);

void check_read_args(const char* op, const at::Tensor& q, const at::Tensor& states, int64_t block_len);
void check_read_backward_args(
    const char* op, const at::Tensor& d_o, const at::Tensor& q, const at::Tensor& states, int64_t block_len);
void check_gated_read_args(
    const char* op,
    const at::Tensor& residual,
    const at::Tensor& gate,
    const at::Tensor& q,
    const at::Tensor& states,
    int64_t block_len);

// Sizes of a checked [B, T, H, K] tensor with value width dim_v (concrete tensors only).
kernels::GdnShape gdn_shape(const at::Tensor& k, int64_t dim_v, int64_t block_len);

// A defined optional tensor, or nullopt.
inline std::optional<at::Tensor> defined_or_null(const std::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? t : std::nullopt;
}

} // namespace arl2::detail
