#include "common/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/signal_cleanup.h"

namespace snare {

namespace fs = std::filesystem;

namespace {

/// The temporary that process `pid` writes `target` through: hidden, beside it, named after it and the pid (so
/// concurrent snare processes writing the same target never share one), shortened where needed so that its name
/// stays within NAME_MAX (255) like the target's.
fs::path temporary_path(const fs::path& target, long long pid) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string suffix = ".tmp" + std::to_string(pid);
  const std::string name = target.filename().string();
  const size_t room = 255 - 1 - suffix.size();
  return dir / ("." + name.substr(0, std::min(name.size(), room)) + suffix);
}

}  // namespace

std::vector<std::string> remove_stale_temporaries(const std::string& path) {
  const fs::path target(path);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t tmp = name.rfind(".tmp");
    if (name.empty() || name[0] != '.' || tmp == std::string::npos) continue;
    const std::string digits = name.substr(tmp + 4);
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long long pid = std::stoll(digits);
    if (temporary_path(target, pid).filename() != it->path().filename()) continue;
    // Only a writer that no longer runs leaves debris; a live one (this process included) is still writing.
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    if (fs::remove(it->path(), ignored)) removed.push_back(it->path().string());
  }
  return removed;
}

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::is_directory(dir)) {
    throw OutputError("cannot write '" + path + "': directory '" + dir.string() + "' does not exist");
  }
  remove_stale_temporaries(path);
  const std::string tmp = temporary_path(target, ::getpid()).string();
  RemoveOnSignal remove_if_killed(tmp, Debris::kFile);
  auto discard = [&] {
    std::error_code ignored;
    fs::remove(tmp, ignored);
  };
  try {
    write(tmp);
  } catch (const OutputError& e) {
    // The user knows the target, not the hidden temporary: messages name the target.
    discard();
    std::string message = e.what();
    for (size_t at = message.find(tmp); at != std::string::npos; at = message.find(tmp, at + path.size())) {
      message.replace(at, tmp.size(), path);
    }
    throw OutputError(message);
  } catch (...) {
    discard();
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    discard();
    throw OutputError("cannot write '" + path + "': " + reason);
  }
}

void write_bytes(const std::string& file, const std::string& bytes) {
  std::FILE* f = std::fopen(file.c_str(), "wb");
  if (f == nullptr) throw OutputError("cannot write '" + file + "': " + std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
  const int error = errno;
  if (std::fclose(f) != 0 || !written) {
    throw OutputError("cannot write '" + file + "': " + std::strerror(written ? errno : error));
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) { write_bytes(tmp, text); });
}

}  // namespace snare
