// Test helpers for the data tests: tensor values as vectors, and a scoped SNARE_DATA so caches written by
// loaders land in a temporary folder (support/temp_dir.h), not the repository's data/.
#pragma once

#include <ATen/ATen.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace snare::test {

/// The elements of a tensor as a vector (tests compare with literals).
template <typename T>
std::vector<T> values(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
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
