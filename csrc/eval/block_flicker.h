// Block-boundary flicker. A model that generates a video block by block may change the picture more from the
// last frame of a block to the first of the next than between the frames of one block: a sawtooth in frame
// change, one tooth per block, that a mean over frames hides. Its ratio is about 1 for the truth, whose blocks
// are only a way of counting frames.
#pragma once

#include <cstdint>
#include <vector>

namespace arl2::eval {

struct BlockFlicker {
  double boundary_change = 0; // mean frame change from the last frame of a block to the first of the next
  double inside_change = 0;   // mean frame change between consecutive frames of one block
  double ratio = 0;           // boundary_change / inside_change; NaN where either is NaN or inside_change is 0
};

// `frame_change[t]` is the change from frame t-1 to frame t (toy::ClipMetric::kFrameChange), read over its first
// `frames` frames in blocks of `frames_per_block`: frame t > 0 is a boundary where t is a multiple of
// frames_per_block, inside a block otherwise. The means skip frames without a value (NaN) and are NaN where no
// frame has one: a single block has no boundary, blocks of one frame have no inside.
BlockFlicker block_flicker(const std::vector<double>& frame_change, int64_t frames, int64_t frames_per_block);

} // namespace arl2::eval
