// The ARL2 hybrid self-attention layer (docs/design.md, "The method"): softmax attention inside each
// block plus a gated delta rule memory of the blocks before it, summed before the teacher's output
// projection:
//   Wo(intra + gamma * read(S_{i-1}, q_m)),  q_m = L2(RoPE(phi_q q')),  k_m = L2(RoPE(phi_k k')),
//   v_m = phi_v v',  g = -exp(A_log) softplus(a_proj x + dt_bias),  beta = 2 sigmoid(b_proj x),
//   gamma = sigmoid(gate_proj x).
// It is made from the teacher's SoftmaxAttention: q, k, v, o, norm_q, norm_k are the teacher's own
// modules (shared tensors, Wan's names: self_attn.q.weight, ...); the memory path's parameters are new
// and carry the authors' names (a_proj.weight, A_log, phi_q.weight, lora_q_A, ...), so a state dict
// of a hybrid model reads like theirs.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "model/attention_context.h"
#include "model/attention_parts.h"
#include "model/lora.h"
#include "model/softmax_attention.h"

namespace arl2::model {

// The memory's log decay per token, g = -exp(A_log) softplus(a + dt_bias) (fla's GatedDeltaNet gate):
// a [B, L, H] (a_proj x), A_log and dt_bias [H]; g <= 0, so the state's decay exp(g) is in (0, 1].
at::Tensor gdn_log_decay(const at::Tensor& a, const at::Tensor& A_log, const at::Tensor& dt_bias);

// What one forward pass of a hybrid layer looked like, over all its tokens (opt-in: each costs a
// memory read and a device sync).
struct HybridDiagnostics {
  double intra_rms = 0;        // RMS of the softmax branch
  double gated_memory_rms = 0; // RMS of gamma * the memory read
  double gate_mean = 0;        // mean of gamma
  double gate_saturation = 0;  // share of gamma values above 0.99 or below 0.01
};

class HybridAttention : public SelfAttentionLayer {
 public:
  // Takes over `teacher`'s parts and adds the memory path, initialised as the authors do
  // (docs/design.md, "New parameters and their initialisation"): phi maps the identity; a_proj, b_proj, gate_proj
  // Xavier-uniform with gain 2^-2.5; A = exp(A_log) uniform in (0, 16); dt_bias the inverse softplus of
  // a dt log-uniform in [1e-3, 0.1]. New parameters take the teacher's dtype and device.
  explicit HybridAttention(const SoftmaxAttention& teacher);

  // x [B, L, C] -> [B, L, C] in the context's mode. Block-causal: the state is scanned over the
  // sequence and every block reads the state before it. Teacher forcing: scanned over the clean
  // half only; clean and noisy block i both read S_{i-1}. Cached: the block reads the layer's
  // state; with ctx.write_cache it then writes itself into it.
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx) override;
  // Writes x's block into the recurrent state; no read, no softmax branch.
  void commit(const at::Tensor& x, const AttentionContext& ctx) override;

  // A zero recurrent state [B, H, D, D] (float32; float64 for a float64 model); `spec` is not used.
  LayerCache make_cache(int64_t batch, int64_t tokens_per_frame, const KVCacheSpec& spec) const override;

  // Adds LoRA on the memory path's q, k, v projections (lora_q_A, lora_q_B, ...): q' = Wq x + delta_q(x)
  // before norm_q, likewise k' and v'; the softmax branch keeps the teacher's projections.
  void add_lora(const LoraOptions& lora);
  bool has_lora() const {
    return lora_q_.has_value();
  }

  // The parameters this layer adds, LoRA excepted (the stage-1 trainables).
  std::vector<at::Tensor> memory_parameters() const;
  // Its adapters' A and B; none before add_lora.
  std::vector<at::Tensor> adapter_parameters() const;
  // Those kept out of weight decay: the decay's own (A_log, dt_bias), which weight decay would pull towards a
  // fixed decay rate rather than towards a smaller one.
  std::vector<at::Tensor> no_weight_decay_parameters() const {
    return {A_log_, dt_bias_};
  }

  // When on, every forward records HybridDiagnostics; off by default.
  void set_diagnostics(bool on) {
    record_diagnostics_ = on;
  }
  bool records_diagnostics() const {
    return record_diagnostics_;
  }
  // The last forward's, while recording is on.
  const std::optional<HybridDiagnostics>& diagnostics() const {
    return diagnostics_;
  }

  AttentionProjections parts; // the teacher's

 private:
  struct Projections {
    at::Tensor q_proj, k_proj, v_proj; // the teacher's projections of x [B, L, C]; q_proj only with the query
    at::Tensor q, k, v;                // its normed q, k and its v as heads [B, L, H, D]; q only with the query
    at::Tensor down_q, down_k, down_v; // x A of each adapter [B, L, rank]; undefined without LoRA
    at::Tensor gate, a, b;             // gate_proj x, a_proj x, b_proj x [B, L, H]
  };
  struct MemoryWrite {
    at::Tensor k, v, g, beta; // k_m, v_m [B, T, H, D]; g, beta [B, T, H] in the state dtype
  };

  // x's projections. The memory path's own (adapters' down-projections, gate, a, b) are column ranges of one
  // GEMM, x times [A_q | A_k | A_v | gate_proj^T | a_proj^T | b_proj^T]: as GEMMs of their own, these narrow
  // outputs would each leave most of the machine idle. The query (q_proj, q) only when with_query: a commit,
  // which only writes, reads none.
  Projections project(const at::Tensor& x, bool with_query) const;
  // q': the teacher's normed q, or with LoRA the adapted projection, normed alike.
  at::Tensor memory_query(const Projections& p) const;
  // k_m, v_m, g, beta of the first n tokens (the clean half under teacher forcing), from k' and v' formed as q'
  // is. Only a write needs them: a cached pass that only reads forms neither.
  MemoryWrite memory_write(const Projections& p, int64_t n, const AttentionContext& ctx) const;
  // Cached mode: writes the block into ctx.cache's recurrent state, which then holds it and every block before.
  void write_state(const Projections& p, const AttentionContext& ctx) const;
  // Fills diagnostics_ from the core's output and what it read.
  void record(
      const at::Tensor& out, const at::Tensor& q_m, const at::Tensor& states, const at::Tensor& gate, int64_t block);

  int64_t num_heads_, head_dim_;
  std::shared_ptr<Linear> a_proj_, b_proj_, gate_proj_; // [H, C], no bias
  at::Tensor A_log_, dt_bias_;                          // [H]
  at::Tensor phi_q_, phi_k_, phi_v_;                    // [H * D, D, 1]: row h * D + o maps head h's input to output o
  std::optional<LoraWeights> lora_q_, lora_k_, lora_v_;
  bool record_diagnostics_ = false;
  std::optional<HybridDiagnostics> diagnostics_;
};

} // namespace arl2::model
