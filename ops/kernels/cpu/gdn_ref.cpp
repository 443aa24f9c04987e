// CPU reference kernels for arl2::gdn_block_scan and arl2::gdn_block_read: the token recurrence of
// ops/specs/gdn_block_scan.md, equations (1)-(7), one (batch, head) pair at a time. They are the
// reference the chunked CUDA kernels are tested against, so they follow the definition literally.
#include "gdn_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../common/check.h"

namespace arl2::kernels {
namespace {

// Strided views of the [B, T, H, D] / [B, NB, H, K, V] / [B, H, K, V] tensors for one (b, h).
struct TokenIndex {
  int64_t T, H, D;
  int64_t at(int64_t b, int64_t t, int64_t h) const {
    return ((b * T + t) * H + h) * D;
  }
};

struct StateIndex {
  int64_t NB, H, KV;
  int64_t block(int64_t b, int64_t i, int64_t h) const {
    return ((b * NB + i) * H + h) * KV;
  }
  int64_t single(int64_t b, int64_t h) const {
    return (b * H + h) * KV;
  }
};

// The (batch, head) pairs lanes [begin, end) index as b * H + h; each is independent of the others.
template <typename Fn>
void for_each_lane(const GdnShape& s, int64_t begin, int64_t end, Fn fn) {
  for (int64_t lane = begin; lane < end; ++lane) {
    fn(lane / s.heads, lane % s.heads);
  }
}

// The backward's replayed states, and everything computed from them, are held in double whatever the inputs'
// dtype: a float state's rounding, amplified where the gradients' sums cancel under strong decay, made the
// float32 gradients' error heavy-tailed (ops/specs/gdn_block_scan.md, "Tolerances"). The forward keeps the
// inputs' dtype: its outputs' error has no such tail.
using Acc = double;

// One token of the forward recurrence, (1)-(3): S <- exp(g) S; u = beta (v - S^T k); S <- S + k u^T, with the
// state in A. `u` receives u_t and `p` receives S'^T k (both length V); `decayed`, when given, receives S'. The
// backward reuses all three.
template <typename A, typename T>
void gdn_token_step(A* S, const T* k, const T* v, T g, T beta, int64_t K, int64_t V, A* p, A* u, A* decayed = nullptr) {
  const A decay = std::exp(static_cast<A>(g));
  for (int64_t i = 0; i < K * V; ++i) {
    S[i] *= decay;
  }
  if (decayed != nullptr) {
    std::copy_n(S, K * V, decayed);
  }
  std::fill(p, p + V, A(0));
  for (int64_t i = 0; i < K; ++i) {
    for (int64_t j = 0; j < V; ++j) {
      p[j] += S[i * V + j] * static_cast<A>(k[i]);
    }
  }
  for (int64_t j = 0; j < V; ++j) {
    u[j] = static_cast<A>(beta) * (static_cast<A>(v[j]) - p[j]);
  }
  for (int64_t i = 0; i < K; ++i) {
    for (int64_t j = 0; j < V; ++j) {
      S[i * V + j] += static_cast<A>(k[i]) * u[j];
    }
  }
}

// The token inputs of one op's k, v, g and beta, stepped through gdn_token_step for lane (b, h).
template <typename T>
struct TokenSteps {
  const T *k, *v, *g, *beta;
  TokenIndex ik, iv, ig;
  int64_t K, V;
  template <typename A>
  void operator()(A* S, int64_t b, int64_t t, int64_t h, A* p, A* u, A* decayed = nullptr) const {
    gdn_token_step(
        S, k + ik.at(b, t, h), v + iv.at(b, t, h), g[ig.at(b, t, h)], beta[ig.at(b, t, h)], K, V, p, u, decayed);
  }
};

template <typename T>
void scan_fwd(const GdnScanFwdParams& p, int64_t begin, int64_t end) {
  const GdnShape& s = p.shape;
  const int64_t K = s.dim_k, V = s.dim_v, NB = s.num_blocks(), L = s.block_len;
  const TokenIndex ik{s.seqlen, s.heads, K}, iv{s.seqlen, s.heads, V}, ig{s.seqlen, s.heads, 1};
  const StateIndex is{NB, s.heads, K * V};
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* g = static_cast<const T*>(p.g);
  const T* beta = static_cast<const T*>(p.beta);
  const TokenSteps<T> step{k, v, g, beta, ik, iv, ig, K, V};
  const T* h0 = static_cast<const T*>(p.initial_state);
  T* states = static_cast<T*>(p.states);
  T* final_state = static_cast<T*>(p.final_state);
  T* transitions = static_cast<T*>(p.transitions);
  const StateIndex it{NB - 1, s.heads, K * K};

  std::vector<T> S(K * V), pk(V), u(V);
  std::vector<T> M(K * K), zeros(K, T(0)), pm(K), um(K);
  for_each_lane(s, begin, end, [&](int64_t b, int64_t h) {
    if (h0 != nullptr) {
      std::copy_n(h0 + is.single(b, h), K * V, S.begin());
    } else {
      std::fill(S.begin(), S.end(), T(0));
    }
    for (int64_t i = 0; i < NB; ++i) {
      std::copy_n(S.begin(), K * V, states + is.block(b, i, h));
      for (int64_t t = i * L; t < (i + 1) * L; ++t) {
        step(S.data(), b, t, h, pk.data(), u.data());
      }
    }
    std::copy_n(S.begin(), K * V, final_state + is.single(b, h));
    // M_b: the same tokens applied to the identity with v = 0 (the block's linear part)
    for (int64_t i = 1; i < NB; ++i) {
      std::fill(M.begin(), M.end(), T(0));
      for (int64_t d = 0; d < K; ++d) {
        M[d * K + d] = T(1);
      }
      for (int64_t t = i * L; t < (i + 1) * L; ++t) {
        gdn_token_step(
            M.data(),
            k + ik.at(b, t, h),
            zeros.data(),
            g[ig.at(b, t, h)],
            beta[ig.at(b, t, h)],
            K,
            K,
            pm.data(),
            um.data());
      }
      std::copy_n(M.begin(), K * K, transitions + it.block(b, i - 1, h));
    }
  });
}

// The backward walks each block in reverse and needs S' (the decayed state before each write). It
// replays the block forward from states[i], keeping a checkpoint at the start of each segment, then
// recomputes each segment's states from its checkpoint: memory O((L / segment + segment) K V). A segment is as
// many tokens as kSegmentBytes of states hold, so a block whose states all fit is one segment and is replayed
// once; Wan-1.3B's 128 x 128 states make segments of 64 tokens.
constexpr int64_t kSegmentBytes = int64_t{8} << 20;

template <typename T>
void scan_bwd(const GdnScanBwdParams& p, int64_t begin, int64_t end) {
  const GdnShape& s = p.shape;
  const int64_t K = s.dim_k, V = s.dim_v, KV = K * V, NB = s.num_blocks(), L = s.block_len;
  const TokenIndex ik{s.seqlen, s.heads, K}, iv{s.seqlen, s.heads, V}, ig{s.seqlen, s.heads, 1};
  const StateIndex is{NB, s.heads, KV};
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const T* g = static_cast<const T*>(p.g);
  const T* beta = static_cast<const T*>(p.beta);
  const TokenSteps<T> step{k, v, g, beta, ik, iv, ig, K, V};
  const T* states = static_cast<const T*>(p.states);
  const T* d_states = static_cast<const T*>(p.d_states);
  const T* d_final = static_cast<const T*>(p.d_final_state);
  T* dk = static_cast<T*>(p.dk);
  T* dv = static_cast<T*>(p.dv);
  T* dg = static_cast<T*>(p.dg);
  T* dbeta = static_cast<T*>(p.dbeta);
  T* d_init = static_cast<T*>(p.d_initial_state);

  const int64_t segment = std::clamp<int64_t>(kSegmentBytes / (KV * int64_t{sizeof(Acc)}), 1, L);
  const int64_t num_segments = (L + segment - 1) / segment;
  std::vector<Acc> checkpoints(num_segments * KV);
  std::vector<Acc> decayed(segment * KV); // S' of each token of the current segment
  std::vector<Acc> S(KV), D(KV), dS(KV), pk(segment * V), u(segment * V), du(V), dp(V), dk_acc(K);

  for_each_lane(s, begin, end, [&](int64_t b, int64_t h) {
    if (d_final != nullptr) {
      std::copy_n(d_final + is.single(b, h), KV, D.begin());
    } else {
      std::fill(D.begin(), D.end(), Acc(0));
    }
    for (int64_t i = NB - 1; i >= 0; --i) {
      const int64_t t0 = i * L;
      std::copy_n(states + is.block(b, i, h), KV, S.begin());
      // The last segment's end state is never needed, so its tokens are not replayed here.
      for (int64_t seg = 0; seg < num_segments; ++seg) {
        std::copy_n(S.begin(), KV, checkpoints.begin() + seg * KV);
        const int64_t seg_end = seg + 1 < num_segments ? (seg + 1) * segment : seg * segment;
        for (int64_t t = t0 + seg * segment; t < t0 + seg_end; ++t) {
          step(S.data(), b, t, h, pk.data(), u.data());
        }
      }
      for (int64_t seg = num_segments - 1; seg >= 0; --seg) {
        const int64_t seg_begin = seg * segment, seg_end = std::min(L, seg_begin + segment);
        std::copy_n(checkpoints.begin() + seg * KV, KV, S.begin());
        for (int64_t r = 0; r < seg_end - seg_begin; ++r) {
          step(S.data(), b, t0 + seg_begin + r, h, pk.data() + r * V, u.data() + r * V, decayed.data() + r * KV);
        }
        for (int64_t r = seg_end - seg_begin - 1; r >= 0; --r) {
          const int64_t t = t0 + seg_begin + r;
          const T* kt = k + ik.at(b, t, h);
          const T* vt = v + iv.at(b, t, h);
          const Acc bt = beta[ig.at(b, t, h)];
          const Acc* Sp = decayed.data() + r * KV;
          const Acc* ut = u.data() + r * V;
          const Acc* pt = pk.data() + r * V;
          T* dkt = dk + ik.at(b, t, h);
          T* dvt = dv + iv.at(b, t, h);
          // (5): du = D^T k; dk = D u; dv = beta du; dbeta = <v - p, du>; dp = -beta du
          std::fill(du.begin(), du.end(), Acc(0));
          Acc dbeta_t = 0;
          for (int64_t a = 0; a < K; ++a) {
            Acc acc = 0;
            for (int64_t c = 0; c < V; ++c) {
              du[c] += D[a * V + c] * static_cast<Acc>(kt[a]);
              acc += D[a * V + c] * ut[c];
            }
            dk_acc[a] = acc;
          }
          for (int64_t c = 0; c < V; ++c) {
            dvt[c] = static_cast<T>(bt * du[c]);
            dbeta_t += (static_cast<Acc>(vt[c]) - pt[c]) * du[c];
            dp[c] = -bt * du[c];
          }
          // (6): dS' = D + k dp^T; dk += S' dp
          for (int64_t a = 0; a < K; ++a) {
            Acc acc = 0;
            for (int64_t c = 0; c < V; ++c) {
              dS[a * V + c] = D[a * V + c] + static_cast<Acc>(kt[a]) * dp[c];
              acc += Sp[a * V + c] * dp[c];
            }
            dkt[a] = static_cast<T>(dk_acc[a] + acc);
          }
          // (7): dg = <S', dS'>; D <- exp(g) dS'
          Acc dg_t = 0;
          const Acc decay = std::exp(static_cast<Acc>(g[ig.at(b, t, h)]));
          for (int64_t e = 0; e < KV; ++e) {
            dg_t += Sp[e] * dS[e];
            D[e] = decay * dS[e];
          }
          dg[ig.at(b, t, h)] = static_cast<T>(dg_t);
          dbeta[ig.at(b, t, h)] = static_cast<T>(dbeta_t);
        }
      }
      if (d_states != nullptr) {
        const T* ds = d_states + is.block(b, i, h);
        for (int64_t e = 0; e < KV; ++e) {
          D[e] += ds[e];
        }
      }
    }
    std::copy_n(D.begin(), KV, d_init + is.single(b, h));
  });
}

template <typename T>
void read_fwd(const GdnReadFwdParams& p, int64_t begin, int64_t end) {
  const GdnShape& s = p.shape;
  const int64_t K = s.dim_k, V = s.dim_v, L = s.block_len;
  const TokenIndex iq{s.seqlen, s.heads, K}, io{s.seqlen, s.heads, V};
  const StateIndex is{s.num_blocks(), s.heads, K * V};
  const T* q = static_cast<const T*>(p.q);
  const T* states = static_cast<const T*>(p.states);
  T* o = static_cast<T*>(p.o);
  const T scale = static_cast<T>(p.scale);
  std::vector<T> acc(V);
  for_each_lane(s, begin, end, [&](int64_t b, int64_t h) {
    for (int64_t t = 0; t < s.seqlen; ++t) {
      const T* S = states + is.block(b, t / L, h);
      const T* qt = q + iq.at(b, t, h);
      T* ot = o + io.at(b, t, h);
      // Row by row, so the inner loop runs along contiguous memory; each output still sums over a in order.
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t a = 0; a < K; ++a) {
        for (int64_t c = 0; c < V; ++c) {
          acc[c] += S[a * V + c] * qt[a];
        }
      }
      for (int64_t c = 0; c < V; ++c) {
        ot[c] = scale * acc[c];
      }
    }
  });
}

template <typename T>
void read_bwd(const GdnReadBwdParams& p, int64_t begin, int64_t end) {
  const GdnShape& s = p.shape;
  const int64_t K = s.dim_k, V = s.dim_v, L = s.block_len, NB = s.num_blocks();
  const TokenIndex iq{s.seqlen, s.heads, K}, io{s.seqlen, s.heads, V};
  const StateIndex is{NB, s.heads, K * V};
  const T* q = static_cast<const T*>(p.q);
  const T* states = static_cast<const T*>(p.states);
  const T* d_o = static_cast<const T*>(p.d_o);
  T* dq = static_cast<T*>(p.dq);
  T* d_states = static_cast<T*>(p.d_states);
  const T scale = static_cast<T>(p.scale);
  for_each_lane(s, begin, end, [&](int64_t b, int64_t h) {
    for (int64_t i = 0; i < NB; ++i) {
      std::fill_n(d_states + is.block(b, i, h), K * V, T(0));
    }
    for (int64_t t = 0; t < s.seqlen; ++t) {
      const T* S = states + is.block(b, t / L, h);
      T* dS = d_states + is.block(b, t / L, h);
      const T* qt = q + iq.at(b, t, h);
      const T* dot = d_o + io.at(b, t, h);
      T* dqt = dq + iq.at(b, t, h);
      for (int64_t a = 0; a < K; ++a) {
        T acc = 0;
        for (int64_t c = 0; c < V; ++c) {
          acc += S[a * V + c] * dot[c];
          dS[a * V + c] += scale * qt[a] * dot[c];
        }
        dqt[a] = scale * acc;
      }
    }
  });
}

template <typename Params, typename Fn32, typename Fn64>
void dispatch_float(const Params& p, int64_t begin, int64_t end, const char* op, Fn32 f32, Fn64 f64) {
  ARL2_CHECK(
      0 <= begin && begin <= end && end <= p.shape.batch * p.shape.heads,
      op,
      ": lanes [",
      begin,
      ", ",
      end,
      ") are not within the batch's ",
      p.shape.batch * p.shape.heads,
      " (batch, head) pairs");
  if (p.dtype == DType::kFloat32) {
    f32(p, begin, end);
  } else {
    ARL2_CHECK(p.dtype == DType::kFloat64, op, ": the CPU kernel takes float32 or float64 data");
    f64(p, begin, end);
  }
}

} // namespace

void gdn_block_scan_fwd_cpu(const GdnScanFwdParams& p, int64_t begin, int64_t end) {
  dispatch_float(p, begin, end, "gdn_block_scan", scan_fwd<float>, scan_fwd<double>);
}

void gdn_block_scan_bwd_cpu(const GdnScanBwdParams& p, int64_t begin, int64_t end) {
  dispatch_float(p, begin, end, "gdn_block_scan backward", scan_bwd<float>, scan_bwd<double>);
}

void gdn_block_read_fwd_cpu(const GdnReadFwdParams& p, int64_t begin, int64_t end) {
  dispatch_float(p, begin, end, "gdn_block_read", read_fwd<float>, read_fwd<double>);
}

void gdn_block_read_bwd_cpu(const GdnReadBwdParams& p, int64_t begin, int64_t end) {
  dispatch_float(p, begin, end, "gdn_block_read backward", read_bwd<float>, read_bwd<double>);
}

} // namespace arl2::kernels
