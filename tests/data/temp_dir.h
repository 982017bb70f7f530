// Test helpers for the data tests: tensor values as vectors, a temporary folder removed on exit, file writing, and a scoped
// SNARE_DATA so caches written by loaders land in the temporary folder, not the repository's data/.
#pragma once

#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace snare::test {

/// The elements of a tensor as a vector (tests compare with literals).
template <typename T>
std::vector<T> values(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "snare_data_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str(const std::string& rel = "") const { return rel.empty() ? path_.string() : (path_ / rel).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

/// Sets SNARE_DATA for the lifetime of the object.
class ScopedDataRoot {
 public:
  explicit ScopedDataRoot(const std::string& dir) {
    if (const char* old = std::getenv("SNARE_DATA")) old_ = old;
    ::setenv("SNARE_DATA", dir.c_str(), 1);
  }
  ~ScopedDataRoot() {
    if (old_) ::setenv("SNARE_DATA", old_->c_str(), 1);
    else ::unsetenv("SNARE_DATA");
  }

 private:
  std::optional<std::string> old_;
};

}  // namespace snare::test
