// Atomic output: every file snare writes goes to a temporary name beside the target and is renamed
// into place only when complete, so a crash or an error never leaves a half-written output.
//
//   snare::write_atomically("out.h5", [](const std::string& tmp) { write_h5(tmp); });
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace snare {

/// Calls `write(tmp_path)`, then renames tmp_path to `path`. On any exception the temporary is
/// removed and the exception propagates; `path` is then untouched. Throws OutputError when the
/// directory is not writable or the rename fails.
void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write);

/// Removes what a killed writer (SIGKILL, power loss) left beside `path`: the temporaries write_atomically names
/// for it whose process no longer runs. write_atomically calls it before every write; returns the paths removed.
std::vector<std::string> remove_stale_temporaries(const std::string& path);

/// Writes `bytes` to `file` (not atomically: for the temporary of write_atomically). Throws OutputError naming the
/// file and the system's reason ("File too large", "No space left on device").
void write_bytes(const std::string& file, const std::string& bytes);

/// Writes `text` (any bytes) to `path` atomically.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace snare
