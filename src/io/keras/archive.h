// The `.keras` zip container (libzip): read named entries, write a stored (uncompressed) archive as
// Keras' own zipfile writer does. Knows nothing of what the entries mean.
//
//   auto entries = archive::read_entries("model.keras", {"config.json", "model.weights.h5"});
#pragma once

#include <ctime>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace snare::io::keras::archive {

/// True when the file starts with a zip local-file signature ("PK\3\4").
bool is_zip(const std::string& path);
/// True when `bytes` start with that signature.
bool starts_like_zip(const std::string& bytes);

/// Entries `names` of the zip at `path` that exist (missing ones are absent from the map). Throws
/// ModelError naming `path` when the file is not a readable zip.
std::map<std::string, std::string> read_entries(const std::string& path, const std::vector<std::string>& names);
/// The same for a zip held in memory; `label` names it in messages.
std::map<std::string, std::string> read_entries_in_memory(const std::string& bytes, const std::string& label,
                                                          const std::vector<std::string>& names);

/// Writes a zip holding `entries` in the given order, stored without compression. Throws OutputError.
/// Every entry is stamped with `time` (Keras stamps the time of saving), so the same entries and time give the
/// same bytes.
void write_entries(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries,
                   std::time_t time);

}  // namespace snare::io::keras::archive
