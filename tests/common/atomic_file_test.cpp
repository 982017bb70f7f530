#include "common/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("snare_atomic_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AtomicFile, WritesCompleteFile) {
  fs::path p = temp_dir() / "a.txt";
  snare::write_text_atomically(p.string(), "hello");
  EXPECT_EQ(read(p), "hello");
}

TEST(AtomicFile, FailureLeavesTargetUntouchedAndNoTemporary) {
  fs::path dir = temp_dir() / "fail";
  fs::create_directories(dir);
  fs::path p = dir / "b.txt";
  snare::write_text_atomically(p.string(), "old");
  EXPECT_THROW(snare::write_atomically(p.string(),
                                       [](const std::string& tmp) {
                                         std::ofstream(tmp) << "half";
                                         throw snare::OutputError("disk full");
                                       }),
               snare::OutputError);
  EXPECT_EQ(read(p), "old");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
}

// A target name of NAME_MAX (255) characters made the temporary's name too long, so every such write failed.
TEST(AtomicFile, LongestFileNameStillWrites) {
  fs::path dir = temp_dir() / "long";
  fs::create_directories(dir);
  const fs::path p = dir / (std::string(251, 'm') + ".txt");
  snare::write_text_atomically(p.string(), "long");
  EXPECT_EQ(read(p), "long");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1) << "no temporary left";
}

TEST(AtomicFile, MissingDirectoryIsAnOutputError) {
  EXPECT_THROW(snare::write_text_atomically("/nonexistent-snare-dir/x.txt", "x"), snare::OutputError);
}

}  // namespace
