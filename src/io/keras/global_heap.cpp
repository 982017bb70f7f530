#include "io/keras/global_heap.h"

#include <fmt/format.h>

#include <cstdint>
#include <fstream>
#include <functional>

namespace snare::io::keras::h5 {

namespace {

// Layout with 8-byte lengths (HDF5's default, h5py's and Keras' files). A collection: "GCOL", version 1, 3 reserved
// bytes, its size (8), then objects: index (2), reference count (2), reserved (4), size (8) and the object padded
// to 8 bytes.
constexpr uint64_t kHeader = 16;
constexpr uint64_t kObjectHeader = 16;

/// Up to `n` bytes at `offset` (fewer at the end).
using ReadAt = std::function<std::string(uint64_t offset, uint64_t n)>;

uint64_t little_endian(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

/// Calls `found(offset)` for every occurrence of `needle` in the file, reading it in blocks.
void find_all(const std::string& needle, uint64_t file_size, const ReadAt& read,
              const std::function<void(uint64_t)>& found) {
  constexpr uint64_t kBlock = uint64_t{1} << 20;
  for (uint64_t offset = 0; offset < file_size; offset += kBlock) {
    // Blocks overlap by the needle's length less one, so that a match across a boundary is seen once.
    const std::string block = read(offset, kBlock + needle.size() - 1);
    for (size_t at = block.find(needle); at != std::string::npos && at < kBlock; at = block.find(needle, at + 1)) {
      found(offset + at);
    }
  }
}

/// Walks the collection at `start` as HDF5's H5HG__cache_heap_deserialize does; "" when HDF5 reaches its end.
std::string walk(uint64_t start, uint64_t file_size, const ReadAt& read) {
  const uint64_t size = little_endian(read(start, kHeader), 8, 8);
  if (size > file_size - start) {
    return fmt::format("the global heap collection at byte {} claims {} bytes, past the end of the file ({} bytes)",
                       start, size, file_size);
  }
  const uint64_t end = start + size;
  for (uint64_t p = start + kHeader; p + kObjectHeader <= end;) {
    const std::string object = read(p, kObjectHeader);
    const uint64_t index = little_endian(object, 0, 2);
    const uint64_t object_size = little_endian(object, 8, 8);
    // Object 0 is the free space: its size alone moves HDF5 on. Other objects add their header and padding.
    const uint64_t need = index > 0 ? kObjectHeader + ((object_size + 7) & ~uint64_t{7}) : object_size;
    // An object must end inside its collection: HDF5 adds a size past the end to its pointer, which can wrap around
    // to an earlier object and loop for ever (a free space of 2^64 - 256 bytes did).
    if (need == 0 || need > end - p || (index > 0 && object_size > end - p - kObjectHeader)) {
      return fmt::format("the global heap collection at byte {} has a damaged object at byte {}", start, p);
    }
    p += need;
  }
  return "";
}

std::string scan(uint64_t file_size, const ReadAt& read) {
  std::string problem;
  find_all("GCOL", file_size, read, [&](uint64_t at) {
    if (!problem.empty() || at + kHeader > file_size) return;
    if (read(at + 4, 1) != std::string(1, '\1')) return;  // not a collection HDF5 would accept: it refuses it itself
    problem = walk(at, file_size, read);
  });
  return problem;
}

}  // namespace

std::string global_heap_problem(const std::string& bytes) {
  return scan(bytes.size(), [&](uint64_t offset, uint64_t n) {
    return offset >= bytes.size() ? std::string() : bytes.substr(offset, n);
  });
}

std::string global_heap_problem_in_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const auto size = static_cast<uint64_t>(in.tellg());
  return scan(size, [&](uint64_t offset, uint64_t n) {
    std::string out(n, '\0');
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(out.data(), static_cast<std::streamsize>(n));
    out.resize(static_cast<size_t>(in.gcount()));
    return out;
  });
}

}  // namespace snare::io::keras::h5
