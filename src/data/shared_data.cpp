#include "data/shared_data.h"

#include <cstdlib>
#include <filesystem>

#include "data/dataset.h"

namespace fs = std::filesystem;

namespace snare::data {

std::vector<std::string> shared_data_candidates(const std::string& relative) {
  std::vector<std::string> out;
  if (const char* env = std::getenv("SNARE_SHARED"); env && *env) {
    out.push_back((fs::path(env) / "data" / relative).string());
    out.push_back((fs::path(env) / relative).string());
  }
  out.push_back((fs::path("..") / "shared" / "data" / relative).string());
  fs::path repo = fs::path(data_root()).parent_path();
  out.push_back((repo.parent_path() / "shared" / "data" / relative).lexically_normal().string());
  return out;
}

std::string find_shared_data(const std::string& relative) {
  for (const std::string& p : shared_data_candidates(relative)) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return "";
}

}  // namespace snare::data
