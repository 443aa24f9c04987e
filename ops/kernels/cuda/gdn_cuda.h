// Host entry points of the CUDA kernels for the GDN ops. Torch-free: the glue in ops/gdn_block_*/
// passes raw pointers, the current stream and a workspace it allocated with the caching allocator.
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime_api.h>

#include "../common/gdn_params.h"

namespace arl2::kernels {

// Empty when the CUDA kernels support these sizes, else the reason, naming the size. The glue checks
// it first so users get the message with the op's name; the launchers check it again.
std::string gdn_cuda_unsupported(const GdnShape& s);

// Bytes of scratch memory the launch needs; the caller passes a buffer of at least that size.
size_t gdn_block_scan_fwd_workspace_bytes(const GdnScanFwdParams& p);
void gdn_block_scan_fwd_cuda(const GdnScanFwdParams& p, void* workspace, cudaStream_t stream);

size_t gdn_block_scan_bwd_workspace_bytes(const GdnScanBwdParams& p);
void gdn_block_scan_bwd_cuda(const GdnScanBwdParams& p, void* workspace, cudaStream_t stream);

void gdn_block_read_fwd_cuda(const GdnReadFwdParams& p, cudaStream_t stream);
void gdn_block_read_bwd_cuda(const GdnReadBwdParams& p, cudaStream_t stream);

} // namespace arl2::kernels
