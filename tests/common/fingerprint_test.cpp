// FNV-1a against its published test vectors, and file fingerprints that follow content, not names.
#include "common/fingerprint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "common/error.h"

namespace {

namespace fs = std::filesystem;

TEST(Fingerprint, Fnv1aMatchesPublishedVectors) {
  EXPECT_EQ(snare::fnv1a(std::string()), 0xcbf29ce484222325ULL);
  EXPECT_EQ(snare::fnv1a(std::string("a")), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(snare::fnv1a(std::string("foobar")), 0x85944171f73967e8ULL);
  // Continuing a hash over a second piece equals hashing the whole.
  EXPECT_EQ(snare::fnv1a(std::string("bar"), snare::fnv1a(std::string("foo"))), snare::fnv1a(std::string("foobar")));
}

TEST(Fingerprint, FilesWithTheSameContentAgreeAndAnEditShows) {
  fs::path dir = fs::temp_directory_path() / ("snare_fingerprint_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "a") << "foobar";
  std::ofstream(dir / "b") << "foobar";
  std::ofstream(dir / "c") << "foobaz";
  EXPECT_EQ(snare::file_fingerprint((dir / "a").string()), "fnv1a64:85944171f73967e8, 6 bytes");
  EXPECT_EQ(snare::file_fingerprint((dir / "a").string()), snare::file_fingerprint((dir / "b").string()));
  EXPECT_NE(snare::file_fingerprint((dir / "a").string()), snare::file_fingerprint((dir / "c").string()));
  EXPECT_THROW(snare::file_fingerprint((dir / "missing").string()), snare::ModelError);
  fs::remove_all(dir);
}

}  // namespace
