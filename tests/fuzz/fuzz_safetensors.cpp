// libFuzzer target for the safetensors reader: any byte string, written to a file, must either open
// and yield every tensor, or be refused with c10::Error; never crash, hang or read out of bounds.
// Built and run by scripts/fuzz.sh (clang's -fsanitize=fuzzer,address).
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

#include "io/safetensors.h"

namespace {

// The file each input is written to, removed when the run ends (libFuzzer ends it with exit()).
struct InputFile {
  const std::string path = "/tmp/arl2_fuzz_" + std::to_string(getpid()) + ".safetensors";
  ~InputFile() {
    unlink(path.c_str());
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const InputFile input;
  const auto& path = input.path;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, data, size) != static_cast<ssize_t>(size)) {
    std::abort();
  }
  close(fd);
  try {
    const arl2::io::SafetensorsFile file(path);
    for (const auto& name : file.keys()) {
      const auto t = file.tensor(name);
      if (t.numel() > 0) {
        (void)t.reshape({-1})[t.numel() - 1].item(); // touch the last byte of every tensor
      }
    }
  } catch (const c10::Error&) {
  }
  return 0;
}
