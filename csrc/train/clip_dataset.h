// Training data: latent clips with their prompts' text embeddings, in safetensors shards. A shard holds
// `latents` [N, F, C, H, W] and `text_embeddings` [N, L, D] (N clips, one embedding per clip, zero-padded
// to L as Wan pads them); `arl2 rollout` writes shards of the teacher's own generations, and any
// dataset encoded to latents can be written the same way. Shards stay open (a descriptor each): a clip's
// bytes are read when it is asked for.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/safetensors.h"

namespace arl2::train {

struct Clip {
  at::Tensor latents;         // [F, C, H, W]
  at::Tensor text_embeddings; // [L, D]
};

class ClipDataset {
 public:
  // Every *.safetensors file directly in `folder`, in name order (so the clip numbering is the same on
  // every machine). Throws naming the shard and the tensor when one is missing or the shards disagree
  // on a clip's shape.
  explicit ClipDataset(const std::string& folder);

  int64_t size() const {
    return total_;
  }
  // Clip i (0 <= i < size()), as float32 CPU tensors (copies, safe to modify).
  Clip get(int64_t i) const;
  // [F, C, H, W] of every clip, and [L, D] of every embedding.
  const std::vector<int64_t>& clip_shape() const {
    return clip_shape_;
  }
  const std::vector<int64_t>& text_shape() const {
    return text_shape_;
  }

 private:
  std::vector<io::SafetensorsFile> shards_;
  std::vector<int64_t> first_; // index of each shard's first clip
  int64_t total_ = 0;
  std::vector<int64_t> clip_shape_, text_shape_;
};

// Writes a shard that ClipDataset reads: `latents` [N, F, C, H, W] and `text_embeddings` [N, L, D], with
// `metadata` and any `extra` tensors (which ClipDataset ignores), atomically (io::save_safetensors). Throws when
// the two disagree on N or have the wrong rank.
void save_clip_shard(
    const std::string& path,
    const at::Tensor& latents,
    const at::Tensor& text_embeddings,
    const std::map<std::string, std::string>& metadata = {},
    const std::vector<std::pair<std::string, at::Tensor>>& extra = {});

// `dir`/shard_<shard, five digits>.safetensors: the names the shard writers give, in clip order by name.
std::string shard_path(const std::string& dir, int64_t shard);

} // namespace arl2::train
