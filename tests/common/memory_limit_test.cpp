#include "common/memory_limit.h"

#include <gtest/gtest.h>

namespace {

TEST(MemoryLimit, SizesTakeBinarySuffixes) {
  EXPECT_EQ(snare::parse_size("1073741824"), 1073741824u);
  EXPECT_EQ(snare::parse_size("512M"), 512u << 20);
  EXPECT_EQ(snare::parse_size("4G"), uint64_t{4} << 30);
  EXPECT_EQ(snare::parse_size("4GB"), uint64_t{4} << 30);
  EXPECT_EQ(snare::parse_size("4GiB"), uint64_t{4} << 30);
  EXPECT_EQ(snare::parse_size("100k"), 100u << 10);
  EXPECT_EQ(snare::parse_size("2T"), uint64_t{2} << 40);
  for (const char* bad : {"", "G", "-1", "1.5G", "4X", "4 G", "99999999999999999999", "17179869184T"}) {
    EXPECT_EQ(snare::parse_size(bad), 0u) << bad;
  }
}

TEST(MemoryLimit, DefaultIsHalfOfPhysicalMemoryUntilSet) {
  const uint64_t by_default = snare::memory_limit();
  EXPECT_GT(by_default, uint64_t{1} << 20);
  snare::set_memory_limit(12345);
  EXPECT_EQ(snare::memory_limit(), 12345u);
  EXPECT_EQ(snare::memory_limit_text(), "12345 bytes (--max-memory)");
  snare::set_memory_limit(uint64_t{4} << 30);
  EXPECT_EQ(snare::memory_limit_text(), "4.3 GB (--max-memory)");
  snare::set_memory_limit(0);
  EXPECT_EQ(snare::memory_limit(), by_default);
}

}  // namespace
