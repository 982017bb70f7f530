#include "common/memory_limit.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <limits>

namespace snare {

namespace {

std::atomic<uint64_t> g_limit{0};  // 0: the default

uint64_t half_of_physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
}

}  // namespace

uint64_t memory_limit() {
  const uint64_t set = g_limit.load();
  return set > 0 ? set : half_of_physical_memory();
}

void set_memory_limit(uint64_t bytes) { g_limit.store(bytes); }

bool beyond_decompression(uint64_t declared, uint64_t stored) { return declared / 1100 > stored; }

std::string size_text(uint64_t bytes) {
  if (bytes >= 1000000000) return fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9);
  if (bytes >= 1000000) return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  return fmt::format("{} bytes", bytes);
}

std::string memory_limit_text() {
  const std::string size = size_text(memory_limit());
  return g_limit.load() > 0 ? size + " (--max-memory)"
                            : size + " (half of this machine's memory; --max-memory sets another)";
}

uint64_t parse_size(const std::string& text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return 0;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return 0;
  std::string unit = text.substr(i);
  for (const char* tail : {"iB", "B"}) {
    const std::string t = tail;
    if (unit.size() >= t.size() && unit.compare(unit.size() - t.size(), t.size(), t) == 0) {
      unit = unit.substr(0, unit.size() - t.size());
      break;
    }
  }
  int shift = 0;
  if (unit == "K" || unit == "k") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (unit == "T") {
    shift = 40;
  } else if (!unit.empty()) {
    return 0;
  }
  if (shift > 0 && value > (std::numeric_limits<uint64_t>::max() >> shift)) return 0;
  return value << shift;
}

}  // namespace snare
