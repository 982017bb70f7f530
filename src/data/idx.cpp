#include "data/idx.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <filesystem>
#include <memory>

#include "common/error.h"
#include "common/memory_limit.h"

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
    if (__builtin_mul_overflow(total, d, &total)) {
      throw DataError(fmt::format("{}: impossible IDX dimensions [{}]", path, fmt::join(dims, ", ")));
    }
  }
  // The header comes from the file: before allocating, what it declares must fit in the file (as stored, or as
  // gzip can give it back) and in the memory limit.
  const uint64_t file_bytes = std::filesystem::file_size(path);
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(expected_rank);
  const bool plain = gzdirect(f.get()) == 1;
  const uint64_t declared = static_cast<uint64_t>(total);
  if (plain ? declared > (file_bytes > header ? file_bytes - header : 0) : beyond_decompression(declared, file_bytes)) {
    throw DataError(fmt::format("{}: truncated IDX file: dimensions [{}] need {} bytes of data, the {}file holds {}",
                                path, fmt::join(dims, ", "), total, plain ? "" : "compressed ", file_bytes));
  }
  if (static_cast<uint64_t>(total) > memory_limit()) {
    throw DataError(fmt::format("{}: IDX dimensions [{}] need {}, more than the memory limit of {}", path,
                                fmt::join(dims, ", "), size_text(static_cast<uint64_t>(total)), memory_limit_text()));
  }
  at::Tensor t = at::empty(dims, at::kByte);
  read_exact(f.get(), t.data_ptr(), static_cast<size_t>(total), path, "data");
  return t;
}

}  // namespace snare::data
