#include "io/keras/global_heap.h"

#include <fmt/format.h>

#include <cstdint>
#include <fstream>
#include <functional>

namespace snare::io::keras::h5 {

namespace {

// Layout with 8-byte lengths (HDF5's default, h5py's and Keras' files): a collection header is "GCOL", version 1,
// 3 reserved bytes and the collection size; an object header is index (2), reference count (2), reserved (4) and
// size (8), followed by the object padded to 8 bytes.
constexpr uint64_t kHeader = 16;
constexpr uint64_t kObjectHeader = 16;

/// Reads up to `n` bytes at `offset` (fewer at the end of the file).
using ReadAt = std::function<std::string(uint64_t offset, uint64_t n)>;

uint64_t little_endian(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

/// Walks the collection at `start` as HDF5's H5HG__cache_heap_deserialize does.
std::string collection_problem(uint64_t start, uint64_t file_size, const ReadAt& read) {
  const std::string head = read(start, kHeader);
  if (head.size() < kHeader || head[4] != 1) return "";  // not a collection HDF5 would accept: it refuses it itself
  const uint64_t size = little_endian(head, 8, 8);
  if (size > file_size - start) {
    return fmt::format("the global heap collection at byte {} claims {} bytes, past the end of the file ({} bytes)",
                       start, size, file_size);
  }
  const uint64_t end = start + size;
  for (uint64_t p = start + kHeader; p < end && p + kObjectHeader <= end;) {
    const std::string object = read(p, kObjectHeader);
    if (object.size() < kObjectHeader) break;
    const uint64_t index = little_endian(object, 0, 2);
    const uint64_t object_size = little_endian(object, 8, 8);
    // Object 0 is the free space; its size alone moves HDF5 on. Other objects add their header and padding.
    const uint64_t need = index > 0 ? kObjectHeader + ((object_size + 7) & ~uint64_t{7}) : object_size;
    if (need == 0 || (index > 0 && object_size > end - p)) {
      return fmt::format("the global heap collection at byte {} has a damaged object at byte {}", start, p);
    }
    if (need > end - p) break;
    p += need;
  }
  return "";
}

std::string scan(uint64_t file_size, const ReadAt& read) {
  constexpr uint64_t kBlock = uint64_t{1} << 20;
  for (uint64_t offset = 0; offset < file_size; offset += kBlock) {
    // Blocks overlap by 3 bytes so that a signature across a boundary is seen once.
    const std::string block = read(offset, kBlock + 3);
    for (size_t at = block.find("GCOL"); at != std::string::npos && at < kBlock; at = block.find("GCOL", at + 1)) {
      std::string problem = collection_problem(offset + at, file_size, read);
      if (!problem.empty()) return problem;
    }
  }
  return "";
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
