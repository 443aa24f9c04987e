// RunFolder (see run_folder.h). POSIX rather than std::filesystem: the torch wheel's libraries export their own
// copy of some std::filesystem symbols (see train/clip_dataset.cpp).
#include "train/run_folder.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/directories.h"

namespace arl2::train {
namespace {

const std::string kCheckpoints = "/checkpoints", kConfig = "/config.yaml", kMetrics = "/metrics.jsonl",
                  kLock = "/run.lock";

bool exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

// What the lock's holder wrote in it: its pid, or "" when it has not yet.
std::string lock_holder(int fd) {
  char text[32] = {};
  const ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  std::string pid(text, n > 0 ? static_cast<size_t>(n) : 0);
  pid.erase(pid.find_last_not_of("\n") + 1);
  return pid;
}

// The metrics line's step, -1 when the line is not a metrics object (a line cut short by a kill).
int64_t logged_step(const std::string& line) {
  const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  const bool has_step = json.is_object() && json.contains("step") && json["step"].is_number_integer();
  return has_step ? json["step"].get<int64_t>() : -1;
}

} // namespace

RunStart run_start(const std::string& resumed_from, bool overwrite) {
  TORCH_CHECK(
      resumed_from.empty() || !overwrite,
      "overwrite starts a run afresh, removing the run in train.out, but this one resumes from '",
      resumed_from,
      "': ask for one of them");
  if (!resumed_from.empty()) {
    return RunStart::kResume;
  }
  return overwrite ? RunStart::kOverwrite : RunStart::kFresh;
}

RunFolder::RunFolder(std::string out, RunStart start, const std::vector<io::NamedPath>& inputs) : out_(std::move(out)) {
  io::make_directories(out_, "train.out");
  io::make_directories(out_ + kCheckpoints, "train.out");
  lock();
  remove_dead_writers_temp_files();
  if (start == RunStart::kOverwrite) {
    remove_run(inputs);
  }
  const auto files = run_files();
  TORCH_CHECK(
      start != RunStart::kFresh || files.empty(),
      "train.out: '",
      out_,
      "' holds a run (",
      files.size(),
      " files: ",
      files.front(),
      files.size() > 1 ? ", ..." : "",
      "); continue it with --resume CHECKPOINT, start afresh over it with --overwrite, or choose another train.out");
}

RunFolder::LockFile::~LockFile() {
  if (fd >= 0) {
    close(fd);
  }
}

std::string RunFolder::config_path() const {
  return out_ + kConfig;
}

std::string RunFolder::metrics_path() const {
  return out_ + kMetrics;
}

void RunFolder::lock() {
  const auto path = out_ + kLock;
  lock_.fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  TORCH_CHECK(lock_.fd >= 0, "train.out: cannot open '", path, "': ", std::strerror(errno));
  if (flock(lock_.fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const auto holder = lock_holder(lock_.fd);
    TORCH_CHECK(error == EWOULDBLOCK, "train.out: cannot lock '", path, "': ", std::strerror(error));
    TORCH_CHECK(
        false,
        "train.out: '",
        out_,
        "' is in use: another run (",
        holder.empty() ? std::string("pid not yet written") : "pid " + holder,
        ") writes it; wait for it to end or choose another train.out");
  }
  const auto pid = std::to_string(getpid()) + "\n";
  TORCH_CHECK(
      ftruncate(lock_.fd, 0) == 0 && pwrite(lock_.fd, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size()),
      "train.out: cannot write '",
      path,
      "': ",
      std::strerror(errno));
}

void RunFolder::remove_dead_writers_temp_files() const {
  // Every temporary file of the run's own files goes, whatever pid it names: their writers held this lock, which
  // is now ours, so they are dead. Whether a pid is alive cannot tell: a pid is reused, and on a file system
  // shared between hosts it names another host's process. Temporary files of other files (an `arl2 export`
  // writing into the folder, which takes no lock) are left to their writers.
  const auto remove_temps = [](const std::string& folder, const auto& is_runs) {
    for (const auto& name : io::list_folder(folder)) {
      const auto target = io::temp_file_target(name);
      if (!target.empty() && is_runs(target)) {
        unlink((folder + "/" + name).c_str());
      }
    }
  };
  remove_temps(out_, [](const std::string& target) { return "/" + target == kConfig || "/" + target == kMetrics; });
  remove_temps(out_ + kCheckpoints, [](const std::string&) { return true; });
}

std::vector<std::string> RunFolder::run_files() const {
  std::vector<std::string> files;
  for (const auto& path : {config_path(), metrics_path()}) {
    if (exists(path)) {
      files.push_back(path);
    }
  }
  for (const auto& name : io::list_folder(out_ + kCheckpoints)) {
    files.push_back(out_ + kCheckpoints + "/" + name);
  }
  return files;
}

void RunFolder::remove_run(const std::vector<io::NamedPath>& inputs) const {
  const auto files = run_files();
  for (const auto& input : inputs) {
    for (const auto& file : files) {
      TORCH_CHECK(
          input.path.empty() || !io::same_file(file, input.path),
          "--overwrite: ",
          input.what,
          " ('",
          input.path,
          "') is '",
          file,
          "', a file of the run in train.out that overwriting removes; copy it elsewhere first or choose another "
          "train.out");
    }
  }
  for (const auto& file : files) {
    TORCH_CHECK(
        unlink(file.c_str()) == 0,
        "--overwrite: cannot remove '",
        file,
        "' of the run in train.out: ",
        std::strerror(errno));
  }
}

void RunFolder::keep_metrics_through(int64_t step) const {
  std::ifstream metrics(metrics_path());
  if (!metrics) {
    return;
  }
  std::string kept, line;
  bool dropped = false;
  while (std::getline(metrics, line)) {
    const int64_t logged = logged_step(line);
    if (logged >= 0 && logged <= step) {
      kept += line + "\n";
    } else {
      dropped = true;
    }
  }
  if (dropped) {
    io::write_file_atomically(metrics_path(), kept);
  }
}

std::string checkpoint_path(const std::string& out, int64_t step) {
  char name[40];
  std::snprintf(name, sizeof(name), "step_%06lld.safetensors", static_cast<long long>(step));
  return out + kCheckpoints + "/" + name;
}

} // namespace arl2::train
