// gdn_kernels: a torch-free workbench for the GDN CUDA kernels, in the style of llm.c's dev/cuda. It links
// only the kernel libraries (no torch headers), so a kernel can be changed, rebuilt in seconds, checked and
// timed in one device call.
//
//   gdn_kernels check   every public launcher (scan and read, forward and backward) on a table of cases
//                       against the CPU reference kernels in float64; one line per case, non-zero exit on a failure
//   gdn_kernels bench   median times of the public launchers and of each stage on its own, with the floors
//
// Usage: gdn_kernels --help. How to use it while optimising: ops/kernels/cuda/NOTES.md, "Workbench".
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cpu/gdn_ref.h"
#include "cuda/gdn_chunk_common.cuh"
#include "cuda/gdn_cuda.h"

namespace {

using namespace arl2::kernels;
namespace detail = arl2::kernels::gdn_detail;

const char* const kUsage =
    "usage: gdn_kernels check\n"
    "       gdn_kernels bench [--dtype bf16|f16|f32] [--batch 1] [--blocks 7] [--block-len 4680] [--heads 12]\n"
    "                         [--dim 128] [--iters 50] [--json PATH]\n"
    "\n"
    "check  runs the CUDA launchers on a table of cases (head dims, block lengths, gates, dtypes, optional\n"
    "       initial state and incoming gradients) and compares every output with the CPU reference kernels\n"
    "       in float64 on the same rounded inputs (relative L2 error, tolerances of ops/specs/gdn_block_scan.md).\n"
    "       Prints one line per case and 'N passed, M failed'; exits 1 on any failure.\n"
    "bench  times (median of --iters, CUDA events, 2 rotating input sets) the full forward and backward scan,\n"
    "       the one-block forward (T = block-len), the read forward / backward, and every stage of the scan\n"
    "       on its own; K = V = --dim. Prints the byte and FLOP floors of the full ops and a table last;\n"
    "       --json writes the numbers to PATH.\n";

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
#define CUDA_CHECK(x) cuda_check((x), #x)

// ------------------------------------------------------------------------------------------------
// Device memory and dtype conversion
// ------------------------------------------------------------------------------------------------

struct CudaFree {
  void operator()(void* p) const {
    // a destructor cannot throw: report and carry on
    if (cudaFree(p) != cudaSuccess)
      std::fputs("gdn_kernels: cudaFree failed\n", stderr);
  }
};
using DevPtr = std::unique_ptr<void, CudaFree>;

// cudaMalloc'ed (256-byte aligned, as the launchers require of the workspace) and filled with 0xFF bytes,
// a NaN in every dtype: an element a kernel fails to write, or a workspace entry it reads before writing,
// shows up as NaN.
DevPtr alloc_poisoned(size_t bytes) {
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
  DevPtr owned(p);
  CUDA_CHECK(cudaMemset(p, 0xFF, bytes));
  return owned;
}

size_t elem_bytes(DType dt) {
  return dt == DType::kFloat32 ? 4 : 2;
}

const char* dtype_name(DType dt) {
  return dt == DType::kFloat32 ? "f32" : dt == DType::kBFloat16 ? "bf16" : "f16";
}

// x as the kernels see it after the cast to dt.
float round_to(float x, DType dt) {
  if (dt == DType::kBFloat16)
    return __bfloat162float(__float2bfloat16_rn(x));
  if (dt == DType::kFloat16)
    return __half2float(__float2half_rn(x));
  return x;
}

DevPtr upload(const std::vector<float>& x, DType dt) {
  DevPtr d = alloc_poisoned(x.size() * elem_bytes(dt));
  detail::dispatch_dtype(dt, "upload", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> h(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      h[i] = static_cast<T>(x[i]); // round to nearest, as the glue's cast
    CUDA_CHECK(cudaMemcpy(d.get(), h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  });
  return d;
}

std::vector<float> download(const void* d, size_t n, DType dt) {
  std::vector<float> x(n);
  detail::dispatch_dtype(dt, "download", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> h(n);
    CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; ++i)
      x[i] = static_cast<float>(h[i]);
  });
  return x;
}

void require_device() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    throw std::runtime_error(
        std::string("no CUDA device found (cudaGetDeviceCount: ") +
        (e == cudaSuccess ? "0 devices" : cudaGetErrorString(e)) + ")");
  }
}

GdnShape make_shape(int64_t B, int64_t NB, int64_t L, int64_t H, int64_t K, int64_t V) {
  GdnShape s;
  s.batch = B;
  s.seqlen = NB * L;
  s.heads = H;
  s.dim_k = K;
  s.dim_v = V;
  s.block_len = L;
  return s;
}

// ------------------------------------------------------------------------------------------------
// check
// ------------------------------------------------------------------------------------------------

enum class Gates { kModel, kStrong, kZero };

struct Case {
  DType dtype;
  int64_t K, V, L, NB, B, H;
  bool init, d_states, d_final; // initial state given; gradients flowing into states / final_state
  Gates gates;
};

// Model-like gates follow Mamba's parametrisation (g = -A softplus(x + dt_bias)); strong ones reach -20 per
// token (every state decays to nothing within a few tokens); zero gates never decay.
// clang-format off
const Case kCases[] = {
    // dtype           K    V    L     NB  B  H  init   dS     dF     gates
    {DType::kFloat32,  128, 128, 100,  3,  2, 2, true,  true,  true,  Gates::kModel},
    {DType::kBFloat16, 128, 128, 100,  3,  2, 2, true,  true,  true,  Gates::kModel},
    {DType::kFloat16,  128, 128, 100,  3,  2, 2, true,  true,  true,  Gates::kModel},
    {DType::kFloat32,  64,  64,  64,   3,  2, 2, true,  true,  true,  Gates::kModel},
    {DType::kBFloat16, 64,  64,  64,   4,  2, 2, false, false, false, Gates::kModel}, // every gradient is zero
    {DType::kFloat32,  16,  16,  7,    5,  2, 2, true,  true,  false, Gates::kModel},
    {DType::kFloat16,  16,  16,  7,    5,  2, 2, false, true,  true,  Gates::kModel},
    {DType::kFloat32,  64,  64,  1,    20, 2, 2, true,  true,  true,  Gates::kModel},
    {DType::kBFloat16, 32,  64,  1,    16, 2, 2, true,  false, true,  Gates::kModel},
    {DType::kFloat32,  32,  64,  100,  4,  2, 3, false, false, true,  Gates::kModel},
    {DType::kFloat32,  128, 64,  64,   4,  2, 2, true,  true,  false, Gates::kZero},
    {DType::kFloat32,  64,  64,  100,  2,  2, 2, true,  true,  true,  Gates::kStrong},
    {DType::kBFloat16, 64,  64,  100,  2,  2, 2, true,  true,  true,  Gates::kStrong},
    {DType::kFloat32,  64,  64,  100,  2,  2, 2, true,  true,  true,  Gates::kZero},
    {DType::kFloat16,  128, 128, 64,   3,  2, 2, true,  true,  true,  Gates::kZero},
    {DType::kFloat32,  16,  16,  4680, 2,  4, 2, true,  true,  true,  Gates::kModel},
    {DType::kFloat32,  128, 128, 4680, 2,  4, 1, true,  true,  true,  Gates::kModel},
    {DType::kBFloat16, 128, 64,  4680, 2,  4, 1, true,  true,  true,  Gates::kModel},
    {DType::kBFloat16, 128, 128, 4680, 1,  4, 1, true,  false, true,  Gates::kModel}, // one block
    {DType::kFloat16,  128, 128, 4680, 2,  4, 1, true,  true,  true,  Gates::kStrong},
};
// clang-format on

std::string case_name(const Case& c) {
  char buf[160];
  std::snprintf(
      buf,
      sizeof(buf),
      "%-4s K=%-3lld V=%-3lld L=%-4lld NB=%-2lld B=%lld H=%lld %s %s %s %-6s",
      dtype_name(c.dtype),
      static_cast<long long>(c.K),
      static_cast<long long>(c.V),
      static_cast<long long>(c.L),
      static_cast<long long>(c.NB),
      static_cast<long long>(c.B),
      static_cast<long long>(c.H),
      c.init ? "init" : "----",
      c.d_states ? "dS" : "--",
      c.d_final ? "dF" : "--",
      c.gates == Gates::kModel    ? "model"
      : c.gates == Gates::kStrong ? "strong"
                                  : "zero");
  return buf;
}

// Inputs as float values the kernels see exactly: k, v, q, d_o are already rounded to the case's dtype.
// Absent optional tensors are empty.
struct Inputs {
  std::vector<float> k, v, q, d_o, g, beta, init, d_states, d_final;
};

Inputs make_inputs(const Case& c, uint64_t seed) {
  const size_t tokens = static_cast<size_t>(c.B * c.NB * c.L * c.H);
  const size_t state = static_cast<size_t>(c.B * c.H * c.K * c.V);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  auto randn = [&](size_t n, float scale) {
    std::vector<float> x(n);
    for (float& e : x)
      e = scale * normal(rng);
    return x;
  };
  // unit rows, as the model's L2-normalised keys and queries
  auto unit_rows = [&](int64_t D) {
    std::vector<float> x = randn(tokens * D, 1.f);
    for (size_t r = 0; r < tokens; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i)
        ss += double(x[r * D + i]) * x[r * D + i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss + 1e-6));
      for (int64_t i = 0; i < D; ++i)
        x[r * D + i] = round_to(x[r * D + i] * inv, c.dtype);
    }
    return x;
  };
  auto rounded = [&](std::vector<float> x) {
    for (float& e : x)
      e = round_to(e, c.dtype);
    return x;
  };
  Inputs in;
  in.k = unit_rows(c.K);
  in.q = unit_rows(c.K);
  in.v = rounded(randn(tokens * c.V, 1.f));
  in.d_o = rounded(randn(tokens * c.V, 1.f));
  in.g.resize(tokens);
  in.beta.resize(tokens);
  for (size_t i = 0; i < tokens; ++i) {
    in.beta[i] = 2.f / (1.f + std::exp(-normal(rng))); // (0, 2): the model's range
    if (c.gates == Gates::kModel) {
      const float A = std::exp(uniform(rng) * std::log(16.f));
      const float dt_bias = std::log(std::expm1(0.001f + 0.099f * uniform(rng)));
      const float x = normal(rng) + dt_bias;
      in.g[i] = -A * (x > 20.f ? x : std::log1p(std::exp(x)));
    } else if (c.gates == Gates::kStrong) {
      in.g[i] = -20.f * uniform(rng) * uniform(rng);
    } else {
      in.g[i] = 0.f;
    }
  }
  if (c.init)
    in.init = randn(state, 0.3f);
  if (c.d_states)
    in.d_states = randn(state * c.NB, 1.f);
  if (c.d_final)
    in.d_final = randn(state, 1.f);
  return in;
}

// Every output the check compares, in the order of kCompared.
// states2 / final2: the forward through the chain schedule the launcher did not pick (use_seq_chain);
// states3 / final3 / trans3: through the parallel schedule with another number of segments per block than
// chain_segments picks (3 when it picks 1, else 1).
enum Output {
  kStates,
  kFinal,
  kTrans,
  kStates2,
  kFinal2,
  kStates3,
  kFinal3,
  kTrans3,
  kO,
  kDq,
  kReadDStates,
  kDk,
  kDv,
  kDg,
  kDbeta,
  kDInit,
  kNumOutputs
};
struct Compared {
  const char* name;
  bool gradient; // gradients get the looser bf16 / f16 tolerance
};
const Compared kCompared[kNumOutputs] = {
    {"states", false},
    {"final", false},
    {"trans", false},
    {"states2", false},
    {"final2", false},
    {"states3", false},
    {"final3", false},
    {"trans3", false},
    {"o", false},
    {"dq", true},
    {"dS_read", true},
    {"dk", true},
    {"dv", true},
    {"dg", true},
    {"dbeta", true},
    {"d_init", true},
};
// from the reference (double) or the GPU (float)
template <typename T>
using Outputs = std::array<std::vector<T>, kNumOutputs>;

std::vector<double> to_double(const std::vector<float>& x) {
  return std::vector<double>(x.begin(), x.end());
}

// Runs f(0), ..., f(n - 1) on n threads; rethrows the first exception.
template <typename F>
void parallel_for(int64_t n, F f) {
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> threads;
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        f(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  for (const std::exception_ptr& e : errors)
    if (e)
      std::rethrow_exception(e);
}

// The reference states and transitions rounded to float32: what the read and the backward get on both
// sides, so that each op is checked on identical inputs, without the forward's error.
struct ForwardResult {
  std::vector<float> states, transitions;
};

// The CPU reference kernels in float64, one thread per batch element, each call computing all its heads.
ForwardResult reference(const Case& c, const Inputs& in, Outputs<double>& ref) {
  const GdnShape one = make_shape(1, c.NB, c.L, c.H, c.K, c.V);
  const size_t nk = static_cast<size_t>(one.seqlen * c.H * c.K), nv = static_cast<size_t>(one.seqlen * c.H * c.V);
  const size_t ng = static_cast<size_t>(one.seqlen * c.H), nf = static_cast<size_t>(c.H * c.K * c.V);
  const size_t ns = nf * c.NB, nt = static_cast<size_t>(std::max<int64_t>(c.NB - 1, 0) * c.H * c.K * c.K);
  const std::vector<double> k = to_double(in.k), v = to_double(in.v), q = to_double(in.q), d_o = to_double(in.d_o);
  const std::vector<double> g = to_double(in.g), beta = to_double(in.beta), init = to_double(in.init);
  const std::vector<double> d_states = to_double(in.d_states), d_final = to_double(in.d_final);
  const size_t per_batch[kNumOutputs] = {
      ns, nf, nt, ns, nf, ns, nf, nt, nv, nk, ns, nk, nv, ng, ng, nf}; // per batch element
  for (int i = 0; i < kNumOutputs; ++i)
    ref[i].resize(c.B * per_batch[i]);
  std::vector<double> states_in(c.B * ns); // the reference states rounded to float32
  // element offset of batch element b in a tensor of `per` elements per batch element; null when absent
  auto at = [](const std::vector<double>& x, int64_t b, size_t per) { return x.empty() ? nullptr : &x[b * per]; };
  auto out = [](std::vector<double>& x, int64_t b, size_t per) { return &x[b * per]; };

  parallel_for(c.B, [&](int64_t b) {
    GdnScanFwdParams f;
    f.shape = one;
    f.dtype = DType::kFloat64;
    f.k = at(k, b, nk);
    f.v = at(v, b, nv);
    f.g = at(g, b, ng);
    f.beta = at(beta, b, ng);
    f.initial_state = at(init, b, nf);
    f.states = out(ref[kStates], b, ns);
    f.final_state = out(ref[kFinal], b, nf);
    f.transitions = out(ref[kTrans], b, nt);
    gdn_block_scan_fwd_cpu(f, 0, one.heads);
    for (size_t i = b * ns; i < (b + 1) * ns; ++i) {
      states_in[i] = static_cast<float>(ref[kStates][i]);
      ref[kStates2][i] = ref[kStates3][i] = ref[kStates][i];
    }
    std::copy_n(&ref[kFinal][b * nf], nf, &ref[kFinal2][b * nf]);
    std::copy_n(&ref[kFinal][b * nf], nf, &ref[kFinal3][b * nf]);
    std::copy_n(&ref[kTrans][b * nt], nt, &ref[kTrans3][b * nt]);

    GdnReadFwdParams rf;
    rf.shape = one;
    rf.dtype = DType::kFloat64;
    rf.scale = 1.0 / std::sqrt(double(c.K));
    rf.q = at(q, b, nk);
    rf.states = at(states_in, b, ns);
    rf.o = out(ref[kO], b, nv);
    gdn_block_read_fwd_cpu(rf, 0, one.heads);

    GdnReadBwdParams rb;
    rb.shape = one;
    rb.dtype = DType::kFloat64;
    rb.scale = rf.scale;
    rb.q = rf.q;
    rb.states = rf.states;
    rb.d_o = at(d_o, b, nv);
    rb.dq = out(ref[kDq], b, nk);
    rb.d_states = out(ref[kReadDStates], b, ns);
    gdn_block_read_bwd_cpu(rb, 0, one.heads);

    GdnScanBwdParams sb;
    sb.shape = one;
    sb.dtype = DType::kFloat64;
    sb.k = f.k;
    sb.v = f.v;
    sb.g = f.g;
    sb.beta = f.beta;
    sb.states = rf.states;
    sb.d_states = at(d_states, b, ns);
    sb.d_final_state = at(d_final, b, nf);
    sb.dk = out(ref[kDk], b, nk);
    sb.dv = out(ref[kDv], b, nv);
    sb.dg = out(ref[kDg], b, ng);
    sb.dbeta = out(ref[kDbeta], b, ng);
    sb.d_initial_state = out(ref[kDInit], b, nf);
    gdn_block_scan_bwd_cpu(sb, 0, one.heads);
  });
  return {
      std::vector<float>(states_in.begin(), states_in.end()),
      std::vector<float>(ref[kTrans].begin(), ref[kTrans].end())};
}

// The GPU side of one case through the public launchers, every output and workspace poisoned first.
Outputs<float> run_gpu(const Case& c, const Inputs& in, const ForwardResult& fwd_ref) {
  const GdnShape s = make_shape(c.B, c.NB, c.L, c.H, c.K, c.V);
  const DType dt = c.dtype;
  const size_t nk = in.k.size(), nv = in.v.size(), ng = in.g.size();
  const size_t nf = static_cast<size_t>(c.B * c.H * c.K * c.V), ns = nf * c.NB;
  const size_t nt = fwd_ref.transitions.size();
  auto upload_opt = [](const std::vector<float>& x) { return x.empty() ? DevPtr() : upload(x, DType::kFloat32); };
  const DevPtr k = upload(in.k, dt), v = upload(in.v, dt), q = upload(in.q, dt), d_o = upload(in.d_o, dt);
  const DevPtr g = upload(in.g, DType::kFloat32), beta = upload(in.beta, DType::kFloat32);
  const DevPtr init = upload_opt(in.init), d_states = upload_opt(in.d_states), d_final = upload_opt(in.d_final);
  const DevPtr states_ref = upload(fwd_ref.states, DType::kFloat32);
  const DevPtr trans_ref = upload(fwd_ref.transitions, DType::kFloat32);
  const size_t es = elem_bytes(dt);
  const DevPtr states = alloc_poisoned(ns * 4), final_state = alloc_poisoned(nf * 4), trans = alloc_poisoned(nt * 4);
  const DevPtr o = alloc_poisoned(nv * es), dq = alloc_poisoned(nk * es), read_d_states = alloc_poisoned(ns * 4);
  const DevPtr dk = alloc_poisoned(nk * es), dv = alloc_poisoned(nv * es);
  const DevPtr dg = alloc_poisoned(ng * 4), dbeta = alloc_poisoned(ng * 4), d_init = alloc_poisoned(nf * 4);

  GdnScanFwdParams f;
  f.shape = s;
  f.dtype = dt;
  f.k = k.get();
  f.v = v.get();
  f.g = g.get();
  f.beta = beta.get();
  f.initial_state = init.get();
  f.states = states.get();
  f.final_state = final_state.get();
  f.transitions = trans.get();
  {
    const DevPtr ws = alloc_poisoned(gdn_block_scan_fwd_workspace_bytes(f));
    gdn_block_scan_fwd_cuda(f, ws.get(), nullptr);
    CUDA_CHECK(cudaDeviceSynchronize()); // before ws is freed
  }
  const DevPtr states2 = alloc_poisoned(ns * 4), final2 = alloc_poisoned(nf * 4), trans2 = alloc_poisoned(nt * 4);
  const DevPtr states3 = alloc_poisoned(ns * 4), final3 = alloc_poisoned(nf * 4), trans3 = alloc_poisoned(nt * 4);
  {
    size_t both = 0;
    detail::carve_fwd_workspace(nullptr, s, detail::FwdViews::kBoth, &both);
    const DevPtr ws = alloc_poisoned(both);
    const detail::FwdWorkspace w = detail::carve_fwd_workspace(ws.get(), s, detail::FwdViews::kBoth, nullptr);
    const int64_t bh = c.B * c.H;
    const bool split = dt == DType::kFloat32;
    const auto* init_f = static_cast<const float*>(f.initial_state);
    auto* states2_f = static_cast<float*>(states2.get());
    auto* final2_f = static_cast<float*>(final2.get());
    auto* trans2_f = static_cast<float*>(trans2.get());
    auto* states3_f = static_cast<float*>(states3.get());
    auto* final3_f = static_cast<float*>(final3.get());
    auto* trans3_f = static_cast<float*>(trans3.get());
    const int segments = detail::chain_segments(s, detail::sm_count());
    if (detail::use_seq_chain(s, detail::sm_count())) {
      detail::launch_chunk_prep(detail::prep_factor_args(s, f.k, f.g, f.beta, w.par), dt, bh, nullptr);
      detail::launch_chunk_chain_a(detail::chain_fwd_args(s, f.k, f.v, w, init_f, segments), dt, bh, nullptr);
      detail::launch_combine_fwd(s, w, segments, init_f, states2_f, final2_f, trans2_f, nullptr);
    } else {
      detail::launch_chunk_prep(detail::prep_args(s, f.k, f.v, f.g, f.beta, w.seq, nullptr), dt, bh, nullptr);
      detail::launch_chain_seq(detail::seq_chain_args(s, w.seq, init_f, states2_f, final2_f), split, bh, nullptr);
    }
    CUDA_CHECK(cudaDeviceSynchronize());
    detail::launch_chunk_prep(detail::prep_factor_args(s, f.k, f.g, f.beta, w.par), dt, bh, nullptr);
    const int other = segments == 1 ? 3 : 1;
    detail::launch_chunk_chain_a(detail::chain_fwd_args(s, f.k, f.v, w, init_f, other), dt, bh, nullptr);
    detail::launch_combine_fwd(s, w, other, init_f, states3_f, final3_f, trans3_f, nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
  }

  GdnReadFwdParams rf;
  rf.shape = s;
  rf.dtype = dt;
  rf.scale = 1.0 / std::sqrt(double(c.K));
  rf.q = q.get();
  rf.states = states_ref.get();
  rf.o = o.get();
  gdn_block_read_fwd_cuda(rf, nullptr);

  GdnReadBwdParams rb;
  rb.shape = s;
  rb.dtype = dt;
  rb.scale = rf.scale;
  rb.q = q.get();
  rb.states = states_ref.get();
  rb.d_o = d_o.get();
  rb.dq = dq.get();
  rb.d_states = read_d_states.get();
  gdn_block_read_bwd_cuda(rb, nullptr);

  GdnScanBwdParams b;
  b.shape = s;
  b.dtype = dt;
  b.k = k.get();
  b.v = v.get();
  b.g = g.get();
  b.beta = beta.get();
  b.states = states_ref.get();
  b.transitions = trans_ref.get();
  b.d_states = d_states.get();
  b.d_final_state = d_final.get();
  b.dk = dk.get();
  b.dv = dv.get();
  b.dg = dg.get();
  b.dbeta = dbeta.get();
  b.d_initial_state = d_init.get();
  {
    const DevPtr ws = alloc_poisoned(gdn_block_scan_bwd_workspace_bytes(b));
    gdn_block_scan_bwd_cuda(b, ws.get(), nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
  }

  Outputs<float> out;
  out[kStates] = download(states.get(), ns, DType::kFloat32);
  out[kFinal] = download(final_state.get(), nf, DType::kFloat32);
  out[kTrans] = download(trans.get(), nt, DType::kFloat32);
  out[kStates2] = download(states2.get(), ns, DType::kFloat32);
  out[kFinal2] = download(final2.get(), nf, DType::kFloat32);
  out[kStates3] = download(states3.get(), ns, DType::kFloat32);
  out[kFinal3] = download(final3.get(), nf, DType::kFloat32);
  out[kTrans3] = download(trans3.get(), nt, DType::kFloat32);
  out[kO] = download(o.get(), nv, dt);
  out[kDq] = download(dq.get(), nk, dt);
  out[kReadDStates] = download(read_d_states.get(), ns, DType::kFloat32);
  out[kDk] = download(dk.get(), nk, dt);
  out[kDv] = download(dv.get(), nv, dt);
  out[kDg] = download(dg.get(), ng, DType::kFloat32);
  out[kDbeta] = download(dbeta.get(), ng, DType::kFloat32);
  out[kDInit] = download(d_init.get(), nf, DType::kFloat32);
  return out;
}

// ||x - ref|| / ||ref||, NaN when x has a non-finite element (an unwritten, poisoned one included). The
// norm of ref is floored at 1e-30: a reference below float32's range (a gradient through several strongly
// decaying blocks, or no incoming gradient at all) only has to come out about as small.
double rel_l2(const std::vector<float>& x, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]))
      return NAN;
    num += (x[i] - ref[i]) * (x[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// ops/specs/gdn_block_scan.md, "Tolerances", CUDA rows.
double tolerance(DType dt, bool gradient) {
  return dt == DType::kFloat32 ? 1e-4 : gradient ? 1e-2 : 5e-3;
}

int run_check() {
  int passed = 0, failed = 0;
  const auto t_start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < std::size(kCases); ++i) {
    const Case& c = kCases[i];
    const auto t0 = std::chrono::steady_clock::now();
    const Inputs in = make_inputs(c, 1000 + i);
    Outputs<double> ref;
    const ForwardResult fwd_ref = reference(c, in, ref);
    const Outputs<float> gpu = run_gpu(c, in, fwd_ref);
    bool ok = true;
    std::string errors;
    for (int j = 0; j < kNumOutputs; ++j) {
      const Compared& m = kCompared[j];
      const double e = rel_l2(gpu[j], ref[j]);
      const bool pass = e <= tolerance(c.dtype, m.gradient); // false for NaN
      ok &= pass;
      char buf[64];
      std::snprintf(buf, sizeof(buf), " %s %.1e%s", m.name, e, pass ? "" : "(FAIL)");
      errors += buf;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s %s |%s | %.1f s\n", ok ? "PASS" : "FAIL", case_name(c).c_str(), errors.c_str(), secs);
    std::fflush(stdout);
    (ok ? passed : failed) += 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf(
      "tolerances: f32 1e-4; bf16 / f16 states, final (both schedules, two segment counts), trans, o 5e-3, gradients "
      "1e-2 (relative L2 "
      "against "
      "float64)\n"
      "%d passed, %d failed (%.1f s)\n",
      passed,
      failed,
      secs);
  return failed == 0 ? 0 : 1;
}

// ------------------------------------------------------------------------------------------------
// bench
// ------------------------------------------------------------------------------------------------

struct BenchOptions {
  DType dtype = DType::kBFloat16;
  int64_t batch = 1, blocks = 7, block_len = 4680, heads = 12, dim = 128, iters = 50;
  std::string json;
};

// splitmix64 of (seed, i) -> uniform in [0, 1). The bench's inputs are gigabytes: filling them on the
// device takes milliseconds, on the host seconds.
__device__ __forceinline__ float hash_uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.f / 16777216.f);
}

template <typename T>
__global__ void fill_uniform_kernel(T* p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
    p[i] = arl2::kernels::from_f32<T>(lo + (hi - lo) * hash_uniform(seed, i));
}

// n random elements of dt, uniform in [lo, hi): random data, never zeros, which can time faster.
DevPtr random_buffer(size_t n, DType dt, uint64_t seed, float lo, float hi) {
  DevPtr d = alloc_poisoned(n * elem_bytes(dt));
  detail::dispatch_dtype(dt, "random_buffer", [&](auto tag) {
    using T = decltype(tag);
    fill_uniform_kernel<T><<<1024, 256>>>(static_cast<T*>(d.get()), n, seed, lo, hi);
    CUDA_CHECK(cudaGetLastError());
  });
  return d;
}

// The floors of the full ops (.library/device/METHOD.md): the fewest bytes they must move (every input read
// once, every output written once) over the memory bandwidth, and the FLOPs of the chunked algorithm
// (its matrix products, spec (8)-(24)) over the dense tf32 tensor-core rate. Float32 inputs run 3xTF32,
// three times the tensor-core work: their FLOP floor is three times the one printed.
constexpr double kBandwidth = 4.8e12; // bytes/s, H200 HBM3e (datasheet)
constexpr double kTf32Rate = 500e12;  // FLOP/s, dense tf32 mma.sync (datasheet: about 495)
constexpr int64_t kChunk = detail::kChunk;

struct Cost {
  double bytes = 0, flops = 0;
};

// FLOPs of one chunk of c rows: (8) K K^T and the triangular inverse, (9) W and U.
double chunk_flops_prep(double c, double K, double V) {
  return 2 * c * c * K + c * c * c / 3 + 2 * c * c * (K + V);
}

// FLOPs of one chunk of c rows of the chain (10), (11) over `cols` state columns.
double chunk_flops_chain(double c, double K, double cols) {
  return 2 * 2 * c * K * cols;
}

// FLOPs of one chunk in the backward on top of the recomputed forward: (13) dV_new and dKd, (14) the
// reverse chain, (15) dW, (16) dA, (17)-(18) A^T dU and A^T dW, (19) A^T dA A^T, (20) (dKK + dKK^T) K.
double chunk_flops_bwd(double c, double K, double V) {
  return 2 * 2 * c * K * V + 2 * c * K * V + 2 * c * K * V + 2 * c * c * (V + K) + 2 * c * c * (V + K) + 4 * c * c * c +
         2 * c * c * K;
}

// Sums f over the chunks of one block (the last one partial) and all blocks and (b, h).
template <typename F>
double over_chunks(const GdnShape& s, F f) {
  const int64_t full = s.block_len / kChunk, tail = s.block_len % kChunk;
  const double per_block = full * f(double(kChunk)) + (tail > 0 ? f(double(tail)) : 0.0);
  return per_block * s.num_blocks() * s.batch * s.heads;
}

Cost scan_fwd_cost(const GdnShape& s, DType dt) {
  const double e = elem_bytes(dt), tokens = double(s.batch * s.seqlen * s.heads);
  const double state = 4.0 * s.batch * s.heads * s.dim_k * s.dim_v, K = s.dim_k, V = s.dim_v;
  Cost c;
  // k, v, g, beta, initial_state in; states, final_state out
  c.bytes = tokens * ((K + V) * e + 8) + state * (s.num_blocks() + 2);
  // the transitions M_b: the chain over K identity columns in every block but the first
  const double identity_share = s.num_blocks() > 0 ? double(s.num_blocks() - 1) / s.num_blocks() : 0.0;
  c.flops = over_chunks(s, [&](double r) { return chunk_flops_prep(r, K, V) + chunk_flops_chain(r, K, V); }) +
            identity_share * over_chunks(s, [&](double r) { return chunk_flops_chain(r, K, K); }) +
            2 * K * K * V * std::max<int64_t>(s.num_blocks() - 1, 0) * s.batch * s.heads; // (12)
  return c;
}

Cost scan_bwd_cost(const GdnShape& s, DType dt) {
  const double e = elem_bytes(dt), tokens = double(s.batch * s.seqlen * s.heads);
  const double state = 4.0 * s.batch * s.heads * s.dim_k * s.dim_v, K = s.dim_k, V = s.dim_v;
  Cost c;
  // k, v, g, beta, states, d_states, d_final_state in; dk, dv, dg, dbeta, d_initial_state out
  c.bytes = 2 * tokens * ((K + V) * e + 8) + state * (2 * s.num_blocks() + 2);
  c.flops =
      over_chunks(
          s,
          [&](double r) { return chunk_flops_prep(r, K, V) + chunk_flops_chain(r, K, V) + chunk_flops_bwd(r, K, V); }) +
      2 * K * K * V * std::max<int64_t>(s.num_blocks() - 1, 0) * s.batch * s.heads; // the combine
  return c;
}

Cost read_cost(const GdnShape& s, DType dt, bool backward) {
  const double e = elem_bytes(dt), tokens = double(s.batch * s.seqlen * s.heads);
  const double states = 4.0 * s.batch * s.num_blocks() * s.heads * s.dim_k * s.dim_v;
  Cost c;
  if (backward) { // q, d_o, states in; dq, d_states out
    c.bytes = tokens * (2 * s.dim_k + s.dim_v) * e + 2 * states;
    c.flops = 4.0 * tokens * s.dim_k * s.dim_v;
  } else { // q, states in; o out
    c.bytes = tokens * (s.dim_k + s.dim_v) * e + states;
    c.flops = 2.0 * tokens * s.dim_k * s.dim_v;
  }
  return c;
}

// One input set with its outputs and workspaces; the bench rotates over two so that consecutive runs of an
// op do not find its inputs in L2 (50 MB).
struct BenchSet {
  DevPtr k, v, q, d_o, g, beta, init, d_states, d_final;
  DevPtr states, final_state, trans, one_states, one_final, o, dq, read_d_states, dk, dv, dg, dbeta, d_init;
  DevPtr ws_fwd, ws_bwd;
  GdnScanFwdParams fwd, one_block;
  GdnScanBwdParams bwd;
  GdnReadFwdParams read_fwd;
  GdnReadBwdParams read_bwd;
  detail::FwdWorkspace wf;
  detail::BwdWorkspace wb;
};

BenchSet make_set(const GdnShape& s, DType dt, uint64_t seed, size_t* ws_fwd_bytes, size_t* ws_bwd_bytes) {
  const size_t nk = static_cast<size_t>(s.batch * s.seqlen * s.heads * s.dim_k);
  const size_t nv = static_cast<size_t>(s.batch * s.seqlen * s.heads * s.dim_v);
  const size_t ng = static_cast<size_t>(s.batch * s.seqlen * s.heads);
  const size_t nf = static_cast<size_t>(s.batch * s.heads * s.dim_k * s.dim_v), ns = nf * s.num_blocks();
  const size_t nt =
      static_cast<size_t>(s.batch * std::max<int64_t>(s.num_blocks() - 1, 1) * s.heads * s.dim_k * s.dim_k);
  const float ak = std::sqrt(3.f / s.dim_k); // k, q rows of about unit norm, as the model's
  const DType f32 = DType::kFloat32;
  BenchSet b;
  b.k = random_buffer(nk, dt, seed + 1, -ak, ak);
  b.q = random_buffer(nk, dt, seed + 2, -ak, ak);
  b.v = random_buffer(nv, dt, seed + 3, -1.7f, 1.7f);
  b.d_o = random_buffer(nv, dt, seed + 4, -1.7f, 1.7f);
  b.g = random_buffer(ng, f32, seed + 5, -0.1f, 0.f);
  b.beta = random_buffer(ng, f32, seed + 6, 0.f, 1.f);
  b.init = random_buffer(nf, f32, seed + 7, -0.3f, 0.3f);
  b.d_states = random_buffer(ns, f32, seed + 8, -1.f, 1.f);
  b.d_final = random_buffer(nf, f32, seed + 9, -1.f, 1.f);
  const size_t es = elem_bytes(dt);
  b.states = alloc_poisoned(ns * 4);
  b.final_state = alloc_poisoned(nf * 4);
  b.trans = alloc_poisoned(nt * 4);
  b.one_states = alloc_poisoned(nf * 4);
  b.one_final = alloc_poisoned(nf * 4);
  b.o = alloc_poisoned(nv * es);
  b.dq = alloc_poisoned(nk * es);
  b.read_d_states = alloc_poisoned(ns * 4);
  b.dk = alloc_poisoned(nk * es);
  b.dv = alloc_poisoned(nv * es);
  b.dg = alloc_poisoned(ng * 4);
  b.dbeta = alloc_poisoned(ng * 4);
  b.d_init = alloc_poisoned(nf * 4);

  b.fwd.shape = s;
  b.fwd.dtype = dt;
  b.fwd.k = b.k.get();
  b.fwd.v = b.v.get();
  b.fwd.g = b.g.get();
  b.fwd.beta = b.beta.get();
  b.fwd.initial_state = b.init.get();
  b.fwd.states = b.states.get();
  b.fwd.final_state = b.final_state.get();
  b.fwd.transitions = b.trans.get();
  // T = block_len on the same buffers: the first B * L * H rows of k, v, g, beta (other data, same cost)
  b.one_block = b.fwd;
  b.one_block.shape.seqlen = s.block_len;
  b.one_block.states = b.one_states.get();
  b.one_block.final_state = b.one_final.get();
  b.one_block.transitions = nullptr;

  b.bwd.shape = s;
  b.bwd.dtype = dt;
  b.bwd.k = b.k.get();
  b.bwd.v = b.v.get();
  b.bwd.g = b.g.get();
  b.bwd.beta = b.beta.get();
  b.bwd.states = b.states.get();
  b.bwd.transitions = b.trans.get();
  b.bwd.d_states = b.d_states.get();
  b.bwd.d_final_state = b.d_final.get();
  b.bwd.dk = b.dk.get();
  b.bwd.dv = b.dv.get();
  b.bwd.dg = b.dg.get();
  b.bwd.dbeta = b.dbeta.get();
  b.bwd.d_initial_state = b.d_init.get();

  b.read_fwd.shape = s;
  b.read_fwd.dtype = dt;
  b.read_fwd.scale = 1.0 / std::sqrt(double(s.dim_k));
  b.read_fwd.q = b.q.get();
  b.read_fwd.states = b.states.get();
  b.read_fwd.o = b.o.get();
  b.read_bwd.shape = s;
  b.read_bwd.dtype = dt;
  b.read_bwd.scale = b.read_fwd.scale;
  b.read_bwd.q = b.q.get();
  b.read_bwd.states = b.states.get();
  b.read_bwd.d_o = b.d_o.get();
  b.read_bwd.dq = b.dq.get();
  b.read_bwd.d_states = b.read_d_states.get();

  // both views (the stage groups run both schedules); the one-block workspace is smaller: it fits too
  detail::carve_fwd_workspace(nullptr, s, detail::FwdViews::kBoth, ws_fwd_bytes);
  *ws_bwd_bytes = gdn_block_scan_bwd_workspace_bytes(b.bwd);
  b.ws_fwd = alloc_poisoned(*ws_fwd_bytes);
  b.ws_bwd = alloc_poisoned(*ws_bwd_bytes);
  b.wf = detail::carve_fwd_workspace(b.ws_fwd.get(), s, detail::FwdViews::kBoth, nullptr);
  b.wb = detail::carve_bwd_workspace(b.ws_bwd.get(), s, nullptr);
  // the backward (and the read) need states
  gdn_block_scan_fwd_cuda(b.fwd, b.ws_fwd.get(), nullptr);
  return b;
}

struct Op {
  Op(std::string name_, std::function<void(BenchSet&)> run_, Cost cost_ = {})
      : name(std::move(name_)), run(std::move(run_)), cost(cost_) {}
  std::string name;
  std::function<void(BenchSet&)> run;
  Cost cost; // zero for single stages: no floor printed
  std::vector<float> ms;
};

// Creates events on demand and destroys them all at the end.
class EventPool {
 public:
  cudaEvent_t record() {
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreate(&e));
    events_.push_back(e);
    CUDA_CHECK(cudaEventRecord(e, nullptr));
    return e;
  }
  ~EventPool() {
    for (cudaEvent_t e : events_)
      if (cudaEventDestroy(e) != cudaSuccess)
        std::fputs("gdn_kernels: cudaEventDestroy failed\n", stderr);
  }

 private:
  std::vector<cudaEvent_t> events_;
};

float median(std::vector<float> x) {
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return n % 2 == 1 ? x[n / 2] : 0.5f * (x[n / 2 - 1] + x[n / 2]);
}

void write_json(
    const std::string& path,
    const BenchOptions& o,
    const GdnShape& s,
    const char* device,
    size_t ws_fwd,
    size_t ws_bwd,
    const std::vector<std::vector<Op>>& groups) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr)
    throw std::runtime_error("cannot write " + tmp);
  std::fprintf(f, "{\n  \"device\": \"%s\",\n", device);
  std::fprintf(
      f,
      "  \"config\": {\"dtype\": \"%s\", \"batch\": %lld, \"seqlen\": %lld, \"blocks\": %lld, \"block_len\": %lld, "
      "\"heads\": %lld, \"dim_k\": %lld, \"dim_v\": %lld, \"iters\": %lld, \"sets\": 2},\n",
      dtype_name(o.dtype),
      static_cast<long long>(s.batch),
      static_cast<long long>(s.seqlen),
      static_cast<long long>(s.num_blocks()),
      static_cast<long long>(s.block_len),
      static_cast<long long>(s.heads),
      static_cast<long long>(s.dim_k),
      static_cast<long long>(s.dim_v),
      static_cast<long long>(o.iters));
  std::fprintf(f, "  \"workspace_bytes\": {\"fwd\": %zu, \"bwd\": %zu},\n", ws_fwd, ws_bwd);
  std::fprintf(
      f, "  \"peak\": {\"bandwidth_bytes_per_s\": %.4g, \"tf32_flops_per_s\": %.4g},\n", kBandwidth, kTf32Rate);
  std::fprintf(f, "  \"ops\": [");
  const char* sep = "\n";
  for (const auto& group : groups) {
    for (const Op& op : group) {
      std::fprintf(
          f,
          "%s    {\"name\": \"%s\", \"median_ms\": %.5f, \"min_ms\": %.5f, \"bytes\": %.10g, \"flops\": %.10g}",
          sep,
          op.name.c_str(),
          median(op.ms),
          *std::min_element(op.ms.begin(), op.ms.end()),
          op.cost.bytes,
          op.cost.flops);
      sep = ",\n";
    }
  }
  std::fprintf(f, "\n  ]\n}\n");
  const bool ok = std::fclose(f) == 0;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write " + path);
}

int run_bench(const BenchOptions& o) {
  const GdnShape s = make_shape(o.batch, o.blocks, o.block_len, o.heads, o.dim, o.dim);
  const DType dt = o.dtype;
  const int64_t bh = s.batch * s.heads;
  const bool split = dt == DType::kFloat32;
  const int segments = detail::chain_segments(s, detail::sm_count());
  auto chain_at = [&](BenchSet& b, int seg) {
    const GdnScanFwdParams& p = b.fwd;
    detail::launch_chunk_chain_a(
        detail::chain_fwd_args(s, p.k, p.v, b.wf, static_cast<const float*>(p.initial_state), seg), dt, bh, nullptr);
  };
  GdnShape one = s;
  one.seqlen = s.block_len;

  size_t ws_fwd = 0, ws_bwd = 0;
  std::vector<BenchSet> sets;
  for (uint64_t i = 0; i < 2; ++i)
    sets.push_back(make_set(s, dt, 100 * i, &ws_fwd, &ws_bwd));
  CUDA_CHECK(cudaDeviceSynchronize());

  // Each group runs back to back on one set, with an event between ops: every stage is timed where the
  // pipeline runs it (e.g. the combine finds the aug the chain just wrote in L2), and the stage times of a
  // group add up to the launcher's.
  std::vector<std::vector<Op>> groups = {
      {{"scan_fwd",
        [](BenchSet& b) { gdn_block_scan_fwd_cuda(b.fwd, b.ws_fwd.get(), nullptr); },
        scan_fwd_cost(s, dt)}},
      {{"scan_bwd",
        [](BenchSet& b) { gdn_block_scan_bwd_cuda(b.bwd, b.ws_bwd.get(), nullptr); },
        scan_bwd_cost(s, dt)}},
      {{"scan_fwd_one_block",
        [](BenchSet& b) { gdn_block_scan_fwd_cuda(b.one_block, b.ws_fwd.get(), nullptr); },
        scan_fwd_cost(one, dt)}},
      {{"read_fwd", [](BenchSet& b) { gdn_block_read_fwd_cuda(b.read_fwd, nullptr); }, read_cost(s, dt, false)}},
      {{"read_bwd", [](BenchSet& b) { gdn_block_read_bwd_cuda(b.read_bwd, nullptr); }, read_cost(s, dt, true)}},
      {
          {"fwd.prep",
           [&](BenchSet& b) {
             const GdnScanFwdParams& p = b.fwd;
             detail::launch_chunk_prep(detail::prep_factor_args(s, p.k, p.g, p.beta, b.wf.par), dt, bh, nullptr);
           }},
          {"fwd.chain", [&](BenchSet& b) { chain_at(b, segments); }},
          {"fwd.combine",
           [&](BenchSet& b) {
             detail::launch_combine_fwd(
                 s,
                 b.wf,
                 segments,
                 static_cast<const float*>(b.fwd.initial_state),
                 static_cast<float*>(b.fwd.states),
                 static_cast<float*>(b.fwd.final_state),
                 static_cast<float*>(b.fwd.transitions),
                 nullptr);
           }},
      },
      // The parallel chain at each number of segments per block (the public launcher picks one per shape:
      // chain_segments), on what the group above's prep left in each set's workspace (the next group
      // overwrites it).
      {
          {"fwd.chain_seg1", [&](BenchSet& b) { chain_at(b, 1); }},
          {"fwd.chain_seg2", [&](BenchSet& b) { chain_at(b, 2); }},
          {"fwd.chain_seg3", [&](BenchSet& b) { chain_at(b, 3); }},
          {"fwd.chain_seg4", [&](BenchSet& b) { chain_at(b, 4); }},
      },
      // The forward's other schedule (the public launcher picks one per shape: use_seq_chain).
      {
          {"fwd.prep_wy",
           [&](BenchSet& b) {
             const GdnScanFwdParams& p = b.fwd;
             detail::launch_chunk_prep(detail::prep_args(s, p.k, p.v, p.g, p.beta, b.wf.seq, nullptr), dt, bh, nullptr);
           }},
          {"fwd.chain_seq",
           [&](BenchSet& b) {
             const GdnScanFwdParams& p = b.fwd;
             detail::launch_chain_seq(
                 detail::seq_chain_args(
                     s,
                     b.wf.seq,
                     static_cast<const float*>(p.initial_state),
                     static_cast<float*>(p.states),
                     static_cast<float*>(p.final_state)),
                 split,
                 bh,
                 nullptr);
           }},
      },
      {
          {"bwd.prep_A",
           [&](BenchSet& b) {
             const GdnScanBwdParams& p = b.bwd;
             detail::launch_chunk_prep(
                 detail::prep_args(s, p.k, p.v, p.g, p.beta, b.wb.chunks, b.wb.A), dt, bh, nullptr);
           }},
          {"bwd.chain_hin_vnew",
           [&](BenchSet& b) {
             const float* states = static_cast<const float*>(b.bwd.states);
             detail::launch_chunk_chain(detail::chain_bwd_args(s, b.wb, states), split, bh, nullptr);
           }},
          {"bwd.combine",
           [&](BenchSet& b) {
             detail::launch_combine_bwd(
                 s,
                 static_cast<const float*>(b.bwd.transitions),
                 static_cast<const float*>(b.bwd.d_states),
                 static_cast<const float*>(b.bwd.d_final_state),
                 b.wb.E,
                 nullptr);
           }},
          {"bwd.reverse_chain",
           [&](BenchSet& b) {
             detail::launch_chain_bwd(
                 s,
                 b.wb,
                 static_cast<const float*>(b.bwd.d_states),
                 static_cast<float*>(b.bwd.d_initial_state),
                 split,
                 nullptr);
           }},
          {"bwd.grad", [](BenchSet& b) { detail::launch_chunk_grad(b.bwd, b.wb, nullptr); }},
      },
  };

  constexpr int kWarmup = 3;
  for (int it = 0; it < kWarmup; ++it)
    for (auto& group : groups)
      for (Op& op : group)
        op.run(sets[it % 2]);
  CUDA_CHECK(cudaDeviceSynchronize());

  // Everything is queued before the first read-back, so the host runs ahead and no launch gap lands in a
  // measured interval.
  EventPool pool;
  std::vector<std::vector<std::vector<cudaEvent_t>>> marks(o.iters); // [iteration][group][op boundary]
  for (int64_t it = 0; it < o.iters; ++it) {
    for (auto& group : groups) {
      std::vector<cudaEvent_t> m = {pool.record()};
      for (Op& op : group) {
        op.run(sets[it % 2]);
        m.push_back(pool.record());
      }
      marks[it].push_back(m);
    }
  }
  CUDA_CHECK(cudaDeviceSynchronize());
  for (int64_t it = 0; it < o.iters; ++it) {
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      for (size_t j = 0; j < groups[gi].size(); ++j) {
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, marks[it][gi][j], marks[it][gi][j + 1]));
        groups[gi][j].ms.push_back(ms);
      }
    }
  }

  cudaDeviceProp prop;
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::printf(
      "gdn_kernels bench on %s: %s, B=%lld, T=%lld (%lld blocks of %lld), H=%lld, K=V=%lld; median and min of %lld "
      "iterations over 2 rotating input sets\n",
      prop.name,
      dtype_name(dt),
      static_cast<long long>(s.batch),
      static_cast<long long>(s.seqlen),
      static_cast<long long>(s.num_blocks()),
      static_cast<long long>(s.block_len),
      static_cast<long long>(s.heads),
      static_cast<long long>(o.dim),
      static_cast<long long>(o.iters));
  ws_fwd = gdn_block_scan_fwd_workspace_bytes(sets[0].fwd); // the op's (the sets hold both views)
  std::printf("workspace: forward %.1f MB, backward %.1f MB\n", ws_fwd / 1e6, ws_bwd / 1e6);
  std::printf(
      "floors: bytes / %.1f TB/s, chunked-algorithm FLOPs / %.0f TFLOP/s (tf32; x3 for f32's 3xTF32); "
      "x floor = median / the larger\n\n",
      kBandwidth / 1e12,
      kTf32Rate / 1e12);
  std::printf(
      "| %-20s | %9s | %9s | %11s | %11s | %7s |\n",
      "op",
      "median ms",
      "min ms",
      "bytes floor",
      "flop floor",
      "x floor");
  std::puts("|----------------------|-----------|-----------|-------------|-------------|---------|");
  for (const auto& group : groups) {
    for (const Op& op : group) {
      const float med = median(op.ms);
      const float lo = *std::min_element(op.ms.begin(), op.ms.end());
      if (op.cost.bytes > 0) {
        const double fb = op.cost.bytes / kBandwidth * 1e3, ff = op.cost.flops / kTf32Rate * 1e3;
        std::printf(
            "| %-20s | %9.3f | %9.3f | %11.3f | %11.3f | %7.1f |\n",
            op.name.c_str(),
            med,
            lo,
            fb,
            ff,
            med / std::max(fb, ff));
      } else {
        std::printf("| %-20s | %9.3f | %9.3f | %11s | %11s | %7s |\n", op.name.c_str(), med, lo, "", "", "");
      }
    }
  }
  if (!o.json.empty()) {
    write_json(o.json, o, s, prop.name, ws_fwd, ws_bwd, groups);
    std::printf("\nwrote %s\n", o.json.c_str());
  }
  return 0;
}

// ------------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------------

int64_t parse_positive(const std::string& flag, const char* text) {
  char* end = nullptr;
  const long long x = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || x <= 0)
    throw std::runtime_error(flag + " takes a positive integer, got '" + text + "'");
  return x;
}

DType parse_dtype(const std::string& text) {
  if (text == "bf16")
    return DType::kBFloat16;
  if (text == "f16")
    return DType::kFloat16;
  if (text == "f32")
    return DType::kFloat32;
  throw std::runtime_error("--dtype takes bf16, f16 or f32, got '" + text + "'");
}

BenchOptions parse_bench(int argc, char** argv) {
  BenchOptions o;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      throw std::runtime_error(flag + " needs a value (see --help)");
    const char* value = argv[++i];
    if (flag == "--dtype")
      o.dtype = parse_dtype(value);
    else if (flag == "--batch")
      o.batch = parse_positive(flag, value);
    else if (flag == "--blocks")
      o.blocks = parse_positive(flag, value);
    else if (flag == "--block-len")
      o.block_len = parse_positive(flag, value);
    else if (flag == "--heads")
      o.heads = parse_positive(flag, value);
    else if (flag == "--dim")
      o.dim = parse_positive(flag, value);
    else if (flag == "--iters")
      o.iters = parse_positive(flag, value);
    else if (flag == "--json")
      o.json = value;
    else
      throw std::runtime_error("unknown option " + flag + " (see --help)");
  }
  return o;
}

} // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  if (mode != "check" && mode != "bench") {
    std::fputs(kUsage, stderr);
    return 2;
  }
  try {
    if (mode == "check" && argc > 2)
      throw std::runtime_error("check takes no options (see --help)");
    const BenchOptions options = mode == "bench" ? parse_bench(argc, argv) : BenchOptions{};
    require_device();
    return mode == "check" ? run_check() : run_bench(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gdn_kernels: %s\n", e.what());
    return 1;
  }
}
