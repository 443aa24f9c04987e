#include "resumable_shards.h"

#include <cstdio>

#include <unistd.h>

#include <c10/util/Exception.h>

#include "io/safetensors.h"

namespace arl2::cli {

bool keep_existing_shard(
    const std::string& path, const std::string& key, const std::string& request, int64_t index, int64_t count) {
  if (access(path.c_str(), F_OK) != 0) {
    return false;
  }
  const io::SafetensorsFile shard(path);
  const auto it = shard.metadata().find(key);
  TORCH_CHECK(
      it != shard.metadata().end() && it->second == request,
      "--out: '",
      path,
      "' is not from this request (",
      it == shard.metadata().end() ? "no " + key + " metadata" : it->second,
      "); this one is ",
      request,
      ". Use another folder or remove it");
  std::fprintf(
      stderr,
      "shard %lld/%lld: kept %s\n",
      static_cast<long long>(index + 1),
      static_cast<long long>(count),
      path.c_str());
  return true;
}

} // namespace arl2::cli
