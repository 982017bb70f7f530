#include "common/fingerprint.h"

#include <fmt/format.h>

#include <fstream>
#include <vector>

#include "common/error.h"

namespace snare {

uint64_t fnv1a(const void* bytes, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

std::string file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(fmt::format("{}: cannot be read", path));
  std::vector<char> block(1 << 20);
  uint64_t h = kFnv1aOffset, size = 0;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto n = static_cast<size_t>(in.gcount());
    h = fnv1a(block.data(), n, h);
    size += n;
  }
  if (in.bad()) throw ModelError(fmt::format("{}: read error", path));
  return fmt::format("fnv1a64:{:016x}, {} bytes", h, size);
}

}  // namespace snare
