// libFuzzer target for the YAML config loader: any text must either load, and then load again from
// its own dump_config to the same dump, or be refused with c10::Error; never crash, hang or throw
// anything else. Built and run by scripts/fuzz.sh (clang's -fsanitize=fuzzer,address).
#include <cstdint>
#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  std::string dumped;
  try {
    dumped = arl2::config::dump_config(arl2::config::parse_config(yaml, "fuzz.yaml"));
  } catch (const c10::Error&) {
    return 0;
  }
  // Outside the try: a dump that does not load, or loads to other values, is a bug in the loader.
  if (arl2::config::dump_config(arl2::config::parse_config(dumped, "dump")) != dumped) {
    std::abort();
  }
  return 0;
}
