#include "data/idx.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <memory>

#include "common/error.h"

namespace snare::data {

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

void read_exact(gzFile f, void* buf, size_t n, const std::string& path, const char* what) {
  size_t done = 0;
  auto* p = static_cast<unsigned char*>(buf);
  while (done < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int got = gzread(f, p + done, chunk);
    if (got <= 0) {
      throw DataError(fmt::format("{}: truncated IDX file: expected {} bytes of {}, got {}", path, n, what, done));
    }
    done += static_cast<size_t>(got);
  }
}

}  // namespace

at::Tensor read_idx(const std::string& path, int expected_rank) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(fmt::format("{}: file not found", path));
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) throw DataError(fmt::format("{}: cannot open", path));
  unsigned char magic[4];
  read_exact(f.get(), magic, 4, path, "the header");
  int expected_magic = 0x0800 + expected_rank;
  int got_magic = (magic[0] << 24) | (magic[1] << 16) | (magic[2] << 8) | magic[3];
  if (got_magic != expected_magic) {
    throw DataError(fmt::format("{}: not an IDX file of rank {}: expected magic {} (0x{:08x}), got {} (0x{:08x})",
                                path, expected_rank, expected_magic, expected_magic, got_magic,
                                static_cast<unsigned>(got_magic)));
  }
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int i = 0; i < expected_rank; ++i) {
    unsigned char b[4];
    read_exact(f.get(), b, 4, path, "the dimensions");
    int64_t d = (int64_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    if (d <= 0 || d > (1 << 28)) throw DataError(fmt::format("{}: implausible dimension {} in IDX header", path, d));
    dims.push_back(d);
    total *= d;
  }
  at::Tensor t = at::empty(dims, at::kByte);
  read_exact(f.get(), t.data_ptr(), static_cast<size_t>(total), path, "data");
  return t;
}

}  // namespace snare::data
