// A training run's folder (train.out), as `arl2 train` and the Python Trainer.run keep it:
//
//   <out>/config.yaml                            the configuration that ran (cli/train.cpp)
//   <out>/metrics.jsonl                          one JSON object per logged step (training_run.h)
//   <out>/checkpoints/step_000500.safetensors    train/checkpoint.h
//   <out>/run.lock                               locked by the process writing the run, which wrote its pid in it
//
// Opening it for a run is what keeps runs from destroying each other: train.out must name a folder; a second
// live writer is refused; a fresh run refuses a folder that holds a run unless told to overwrite it (then the old
// run's files are removed first, never interleaved with the new ones); a resumed run's metrics continue from the
// step it resumed at. The lock is an flock, which the kernel releases when its holder dies, so a killed run never
// leaves the folder locked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/output_paths.h"

namespace arl2::train {

enum class RunStart {
  kFresh,     // refuses a folder that holds a run
  kOverwrite, // removes the run the folder holds, then starts afresh
  kResume,    // continues the run the folder holds (an empty folder is fine too)
};

// A run resumed from `resumed_from` ("" for none) continues its folder; else it starts afresh, over the folder's
// run with `overwrite`. Throws when both are asked.
RunStart run_start(const std::string& resumed_from, bool overwrite);

class RunFolder {
 public:
  // Makes `out` (train.out) and its checkpoints folder, locks it for this object's life, removes the temporary
  // files of writers killed inside a write, then starts as `start` says. Throws, naming train.out and the folder,
  // when `out` is empty or not a folder, when another process holds the lock (with its pid), when a fresh run
  // finds a run there, and when overwriting would remove one of `inputs` (the run's input files: train.init_from,
  // inference.checkpoint), naming it.
  RunFolder(std::string out, RunStart start, const std::vector<io::NamedPath>& inputs = {});
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::string& path() const {
    return out_;
  }
  std::string config_path() const;
  std::string metrics_path() const;

  // Drops the lines of metrics.jsonl of steps after `step` (and a last line cut short by a kill), atomically: a
  // run resumed at `step` logs the steps after it once, so the file reads as one run.
  void keep_metrics_through(int64_t step) const;

 private:
  void lock();
  void remove_dead_writers_temp_files() const;
  // The files of the run the folder holds: config.yaml, metrics.jsonl and every file in checkpoints/.
  std::vector<std::string> run_files() const;
  void remove_run(const std::vector<io::NamedPath>& inputs) const;

  // Its descriptor, whose closing releases the lock; a member, so that a constructor that throws releases it too.
  // The file stays: removing it would let a process that opened it before the removal lock the removed file while
  // a third locks a new one, both sure they hold the folder.
  struct LockFile {
    int fd = -1;
    LockFile() = default;
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;
    ~LockFile();
  };

  std::string out_;
  LockFile lock_;
};

// The checkpoint path of `step` in the run folder `out`.
std::string checkpoint_path(const std::string& out, int64_t step);

} // namespace arl2::train
