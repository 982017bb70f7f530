#include "common/hdf5_heaps.h"

#include <fmt/format.h>

#include <cstdint>
#include <fstream>
#include <functional>

namespace snare {

namespace {

// Layouts with 8-byte offsets and lengths.
// A global heap collection: "GCOL", version 1, 3 reserved bytes, its size (8), then objects: index (2), reference
// count (2), reserved (4), size (8) and the object padded to 8 bytes.
constexpr uint64_t kCollectionHeader = 16;
constexpr uint64_t kObjectHeader = 16;
// A local heap: "HEAP", version 0, 3 reserved bytes, data segment size (8), offset of the first free block (8),
// address of the data segment (8). A free block in the data segment: offset of the next (8), its size (8).
// The list ends at offset 1 (HDF5's H5HL_FREE_NULL).
constexpr uint64_t kLocalHeapHeader = 32;
constexpr uint64_t kFreeBlock = 16;
constexpr uint64_t kFreeListEnd = 1;

/// Up to `n` bytes at `offset` (fewer at the end).
using ReadAt = std::function<std::string(uint64_t offset, uint64_t n)>;

uint64_t little_endian(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}

/// True when the superblock at byte 0 declares 8-byte offsets and lengths (versions 0 and 1 keep the two sizes at
/// bytes 13 and 14, versions 2 and 3 at 9 and 10).
bool has_8_byte_sizes(const ReadAt& read) {
  const std::string sb = read(0, 16);
  if (sb.size() < 16) return false;
  const size_t at = sb[8] <= 1 ? 13 : 9;
  return sb[at] == 8 && sb[at + 1] == 8;
}

/// Calls `found(offset)` for every occurrence of "GCOL" or "HEAP" in the file, reading it once, in blocks.
void find_signatures(uint64_t file_size, const ReadAt& read, const std::function<void(uint64_t)>& found) {
  constexpr uint64_t kBlock = uint64_t{1} << 20;
  constexpr size_t kLength = 4;
  for (uint64_t offset = 0; offset < file_size; offset += kBlock) {
    // Blocks overlap by a signature's length less one, so that a match across a boundary is seen once.
    const std::string block = read(offset, kBlock + kLength - 1);
    for (const char* needle : {"GCOL", "HEAP"}) {
      for (size_t at = block.find(needle, 0, kLength); at != std::string::npos && at < kBlock;
           at = block.find(needle, at + 1, kLength)) {
        found(offset + at);
      }
    }
  }
}

/// Walks the collection at `start` as HDF5's H5HG__cache_heap_deserialize does; "" when HDF5 reaches its end.
std::string walk_collection(uint64_t start, uint64_t file_size, const ReadAt& read) {
  const uint64_t size = little_endian(read(start, kCollectionHeader), 8, 8);
  if (size > file_size - start) {
    return fmt::format("the global heap collection at byte {} claims {} bytes, past the end of the file ({} bytes)",
                       start, size, file_size);
  }
  const uint64_t end = start + size;
  for (uint64_t p = start + kCollectionHeader; p + kObjectHeader <= end;) {
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

/// Follows the free list of the local heap at `start` as HDF5's H5HL__fl_deserialize does; "" when it ends (or HDF5
/// stops at a check of its own: an offset past the data segment, a next offset of 0, a block past the segment).
/// A cycle is found as Brent's algorithm finds one: in O(1) memory, however long the list.
std::string walk_local_heap(uint64_t start, uint64_t file_size, const ReadAt& read) {
  const std::string header = read(start, kLocalHeapHeader);
  const uint64_t data_size = little_endian(header, 8, 8);
  const uint64_t data_at = little_endian(header, 24, 8);
  if (data_at > file_size || data_size > file_size - data_at) return "";  // HDF5 cannot read the segment
  uint64_t block = little_endian(header, 16, 8);
  uint64_t marked = block, steps = 0, next_mark = 1;
  while (block != kFreeListEnd) {
    if (block >= data_size) return "";
    if (kFreeBlock > data_size - block) {
      return fmt::format("the local heap at byte {} has a free block at offset {} past its data segment ({} bytes)",
                         start, block, data_size);
    }
    const std::string free_block = read(data_at + block, kFreeBlock);
    const uint64_t next = little_endian(free_block, 0, 8);
    if (next == 0 || little_endian(free_block, 8, 8) > data_size - block) return "";
    block = next;
    if (block == marked) {
      return fmt::format("the free list of the local heap at byte {} leads back to its block at offset {}", start,
                         block);
    }
    if (++steps == next_mark) {  // move the mark up to here, and let the list run twice as far before the next move
      marked = block;
      steps = 0;
      next_mark *= 2;
    }
  }
  return "";
}

std::string scan(uint64_t file_size, const ReadAt& read) {
  if (!has_8_byte_sizes(read)) return "";
  std::string problem;
  find_signatures(file_size, read, [&](uint64_t at) {
    if (!problem.empty()) return;
    const std::string head = read(at, 5);
    // Other versions HDF5 refuses itself: a collection is version 1, a local heap version 0.
    if (head == std::string("GCOL\1", 5) && at + kCollectionHeader <= file_size) {
      problem = walk_collection(at, file_size, read);
    } else if (head == std::string("HEAP\0", 5) && at + kLocalHeapHeader <= file_size) {
      problem = walk_local_heap(at, file_size, read);
    }
  });
  return problem;
}

}  // namespace

std::string hdf5_heap_problem(const std::string& bytes) {
  return scan(bytes.size(), [&](uint64_t offset, uint64_t n) {
    return offset >= bytes.size() ? std::string() : bytes.substr(offset, n);
  });
}

std::string hdf5_heap_problem_in_file(const std::string& path) {
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

}  // namespace snare
