#include "train/clip_dataset.h"

#include <algorithm>
#include <cstdio>

#include <dirent.h>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "io/value_checks.h"

namespace arl2::train {
namespace {

constexpr const char* kLatents = "latents";
constexpr const char* kText = "text_embeddings";

// Checks one tensor of a shard and returns its per-clip shape (all but the leading N).
std::vector<int64_t> per_clip_shape(const io::SafetensorsFile& shard, const char* name, size_t rank, int64_t clips) {
  TORCH_CHECK(
      shard.contains(name), shard.path(), ": no '", name, "' tensor; a shard holds '", kLatents, "' and '", kText, "'");
  const auto& shape = shard.info(name).shape;
  TORCH_CHECK(shape.size() == rank, shard.path(), ": '", name, "' must have ", rank, " dims, got ", shape.size());
  TORCH_CHECK(
      clips < 0 || shape[0] == clips,
      shard.path(),
      ": '",
      name,
      "' holds ",
      shape[0],
      " clips but '",
      kLatents,
      "' holds ",
      clips);
  return {shape.begin() + 1, shape.end()};
}

// The *.safetensors files directly in `folder`, sorted. POSIX rather than std::filesystem: the torch
// wheel's libraries export their own copy of some std::filesystem symbols, and calls bound to it crash.
std::vector<std::string> shard_paths(const std::string& folder) {
  DIR* dir = opendir(folder.c_str());
  TORCH_CHECK(dir != nullptr, "data.path: cannot open the folder ", folder);
  std::vector<std::string> paths;
  const std::string suffix = ".safetensors";
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      paths.push_back(folder + "/" + name);
    }
  }
  closedir(dir);
  std::sort(paths.begin(), paths.end());
  return paths;
}

} // namespace

ClipDataset::ClipDataset(const std::string& folder) {
  const auto paths = shard_paths(folder);
  TORCH_CHECK(!paths.empty(), "data.path: no .safetensors shards in ", folder);
  for (const auto& path : paths) {
    io::SafetensorsFile shard(path);
    const auto clip = per_clip_shape(shard, kLatents, 5, -1);
    const int64_t n = shard.info(kLatents).shape[0];
    const auto text = per_clip_shape(shard, kText, 3, n);
    if (shards_.empty()) {
      clip_shape_ = clip;
      text_shape_ = text;
    }
    TORCH_CHECK(
        clip == clip_shape_ && text == text_shape_,
        path,
        ": clips ",
        at::IntArrayRef(clip),
        " and texts ",
        at::IntArrayRef(text),
        " differ from the first shard's ",
        at::IntArrayRef(clip_shape_),
        " and ",
        at::IntArrayRef(text_shape_));
    first_.push_back(total_);
    total_ += n;
    shards_.push_back(std::move(shard));
  }
}

Clip ClipDataset::get(int64_t i) const {
  TORCH_CHECK(i >= 0 && i < total_, "clip ", i, " asked of a dataset of ", total_);
  const size_t s = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), i) - first_.begin()) - 1;
  const int64_t j = i - first_[s];
  Clip clip;
  for (auto [name, into] : {std::pair{kLatents, &clip.latents}, std::pair{kText, &clip.text_embeddings}}) {
    // One row read into memory of its own (a float32 shard's is returned as it is), checked where a step reads it:
    // checking a whole shard up front would read every clip twice.
    const auto row = shards_[s].row(name, j);
    io::check_finite_floats(row, shards_[s].path(), std::string(name) + "[" + std::to_string(j) + "]");
    *into = row.to(at::kFloat);
  }
  return clip;
}

void save_clip_shard(
    const std::string& path,
    const at::Tensor& latents,
    const at::Tensor& text_embeddings,
    const std::map<std::string, std::string>& metadata,
    const std::vector<std::pair<std::string, at::Tensor>>& extra) {
  TORCH_CHECK(
      latents.dim() == 5 && text_embeddings.dim() == 3 && latents.size(0) == text_embeddings.size(0),
      path,
      ": a shard holds '",
      kLatents,
      "' [N, F, C, H, W] and '",
      kText,
      "' [N, L, D], got ",
      latents.sizes(),
      " and ",
      text_embeddings.sizes());
  // Shards are training data: a NaN written here would stop a run that reads it much later.
  io::check_finite_floats(latents, path, kLatents);
  io::check_finite_floats(text_embeddings, path, kText);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {{kLatents, latents}, {kText, text_embeddings}};
  tensors.insert(tensors.end(), extra.begin(), extra.end());
  io::save_safetensors(path, tensors, metadata);
}

std::string shard_path(const std::string& dir, int64_t shard) {
  char name[48];
  std::snprintf(name, sizeof(name), "shard_%05lld.safetensors", static_cast<long long>(shard));
  return dir + "/" + name;
}

} // namespace arl2::train
