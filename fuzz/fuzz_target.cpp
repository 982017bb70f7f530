// One libFuzzer target per reader: built once per name in fuzz/CMakeLists.txt with SNARE_FUZZ_READER set.
// A read or a refusal (exit 3/4/5 naming the input) is fine; anything else aborts, which libFuzzer reports as a
// crash and saves the input.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/memory_limit.h"
#include "fuzz/readers.h"

namespace {

const snare::fuzz::Reader& reader() {
  static const snare::fuzz::Reader* r = snare::fuzz::find_reader(SNARE_FUZZ_READER);
  if (!r) {
    std::fprintf(stderr, "fuzz: no reader '%s'\n", SNARE_FUZZ_READER);
    std::abort();
  }
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Refusals of oversized declarations must come before the allocation: below libFuzzer's -malloc_limit_mb.
  snare::set_memory_limit(uint64_t{256} << 20);
  if (std::string(SNARE_FUZZ_READER) == "keras_config") (void)snare::fuzz::config_templates();
  (void)reader();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)snare::fuzz::run(reader(), std::string(reinterpret_cast<const char*>(data), size));
  } catch (const snare::fuzz::Bug& bug) {
    std::fprintf(stderr, "\nfuzz: BUG: %s\n", bug.what());
    std::abort();
  }
  return 0;
}
