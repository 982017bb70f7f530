#include "common/atomic_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace snare {

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::is_directory(dir)) {
    throw OutputError("cannot write '" + path + "': directory '" + dir.string() + "' does not exist");
  }
  // The pid keeps concurrent snare processes writing the same target from sharing a temporary. The name part is
  // shortened where needed so that the temporary's name stays within NAME_MAX (255) like the target's.
  const std::string suffix = ".tmp" + std::to_string(::getpid());
  const std::string name = target.filename().string();
  const size_t room = 255 - 1 - suffix.size();
  std::string tmp = (dir / ("." + name.substr(0, std::min(name.size(), room)) + suffix)).string();
  try {
    write(tmp);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw OutputError("cannot write '" + path + "': " + reason);
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw OutputError("cannot write '" + path + "': write to temporary file failed");
  });
}

}  // namespace snare
