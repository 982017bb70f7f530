// How much memory a file may make snare allocate. Files declare sizes (a weight's shape, a zip entry's length)
// before their bytes are read; a declared size beyond this limit is refused before anything is allocated, so a
// crafted 1 MB file cannot make snare take 6 GB. Default: half of this machine's physical memory; the CLI sets it
// from --max-memory.
//
//   snare::set_memory_limit(4ull << 30);
//   if (bytes > snare::memory_limit()) throw ModelError(... + snare::memory_limit_text());
#pragma once

#include <cstdint>
#include <string>

namespace snare {

/// The limit in bytes (half of physical memory until set_memory_limit).
uint64_t memory_limit();

/// Sets the limit; 0 goes back to the default.
void set_memory_limit(uint64_t bytes);

/// True when `declared` bytes cannot come out of `stored` compressed ones: deflate (zip, gzip, HDF5's filter) gives
/// back at most about 1032 bytes per stored byte, so a file claiming more is lying about its size.
bool beyond_decompression(uint64_t declared, uint64_t stored);

/// "4.3 GB", "1.5 MB" or "512 bytes".
std::string size_text(uint64_t bytes);

/// "4.3 GB (--max-memory)", "102400 bytes (--max-memory)" or "12.3 GB (half of this machine's memory; --max-memory
/// sets another)": for messages.
std::string memory_limit_text();

/// Parses a size: a whole number of bytes with an optional suffix K, M, G or T (powers of 1024; a trailing B or
/// iB is allowed), e.g. "512M", "4G", "1073741824". Returns 0 when `text` is not such a size.
uint64_t parse_size(const std::string& text);

}  // namespace snare
