// Commands that fill a folder with shards (`arl2 rollout`, `arl2 toy-data`) keep the shards an earlier,
// interrupted run of the same request already wrote, and refuse to mix requests in one folder. A shard
// records its request as a metadata string under the command's own key.
#pragma once

#include <cstdint>
#include <string>

namespace arl2::cli {

// True when shard `index` of `count` is at `path` from this `request` (it is kept, with a progress line);
// false when no file is there; an error naming --out when the file there is from another request.
bool keep_existing_shard(
    const std::string& path, const std::string& key, const std::string& request, int64_t index, int64_t count);

} // namespace arl2::cli
