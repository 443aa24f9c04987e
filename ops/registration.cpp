// The one TORCH_LIBRARY(arl2) of the project: every schema, in one place. Kernels register per
// dispatch key next to their glue (ops/<op>/<op>_{cpu,cuda,meta,autograd}.cpp). The math behind each
// schema is in ops/specs/.
#include <torch/library.h>

TORCH_LIBRARY(arl2, m) {
  // ops/specs/gdn_block_scan.md
  m.def(
      "gdn_block_scan(Tensor k, Tensor v, Tensor g, Tensor beta, int block_len, Tensor? initial_state=None)"
      " -> (Tensor states, Tensor final_state)");
  m.def(
      "_gdn_block_scan_forward(Tensor k, Tensor v, Tensor g, Tensor beta, int block_len,"
      " Tensor? initial_state=None) -> (Tensor states, Tensor final_state, Tensor transitions)");
  m.def(
      "_gdn_block_scan_backward(Tensor? d_states, Tensor? d_final_state, Tensor k, Tensor v, Tensor g,"
      " Tensor beta, Tensor states, Tensor transitions, int block_len)"
      " -> (Tensor dk, Tensor dv, Tensor dg, Tensor dbeta, Tensor d_initial_state)");
  m.def("gdn_block_read(Tensor q, Tensor states, int block_len, float scale) -> Tensor o");
  m.def(
      "_gdn_block_read_backward(Tensor d_o, Tensor q, Tensor states, int block_len, float scale)"
      " -> (Tensor dq, Tensor d_states)");
  // hybrid_attention's (3) with the read: residual + gate * gdn_block_read(q, states, block_len, scale)
  m.def(
      "_gdn_block_read_gated(Tensor residual, Tensor gate, Tensor q, Tensor states, int block_len, float scale)"
      " -> Tensor o");
  // ops/specs/hybrid_attention.md
  m.def(
      "hybrid_attention(Tensor q, Tensor k, Tensor v, Tensor q_mem, Tensor states, Tensor gate, int block_len,"
      " float? scale=None, float? mem_scale=None) -> Tensor");
  // ops/specs/rope3d.md
  m.def("rope3d(Tensor x, int[] grid, int frame_offset=0, bool inverse=False) -> Tensor");
  // ops/specs/row_ops.md
  m.def("rms_norm(Tensor x, Tensor weight, float eps) -> Tensor");
  m.def("layer_norm_modulate(Tensor x, Tensor shift, Tensor scale, float eps) -> Tensor");
  m.def("gated_residual(Tensor x, Tensor y, Tensor gate) -> Tensor");
}
