// Content fingerprints: FNV-1a (64-bit) over bytes, for telling files and tensors apart (a resumed run's input, a
// cache key, the IR dump's weights). Not a cryptographic hash: it detects accidents, not tampering.
//
//   std::string id = snare::file_fingerprint("model.h5");   // "fnv1a64:3f2a...c1, 61706 bytes"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace snare {

constexpr uint64_t kFnv1aOffset = 14695981039346656037ULL;  // 0xcbf29ce484222325

/// FNV-1a of `n` bytes, continuing from `h` (the offset basis starts a new hash).
uint64_t fnv1a(const void* bytes, size_t n, uint64_t h = kFnv1aOffset);
inline uint64_t fnv1a(const std::string& s, uint64_t h = kFnv1aOffset) { return fnv1a(s.data(), s.size(), h); }

/// "fnv1a64:HEX, N bytes" of a file's content (read in blocks); ModelError naming the file when it cannot be read.
std::string file_fingerprint(const std::string& path);

}  // namespace snare
