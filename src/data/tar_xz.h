// Reading members of a compressed tar archive (.tar.xz, .tar.gz, ...) into memory with libarchive.
// Only regular files are returned; the archive is read once, front to back. Writing is not supported.
//
//   auto files = data::read_tar_members("hapt.tar.xz", [](const std::string& name) {
//     return name.find("RawData/") != std::string::npos;
//   });
#pragma once

#include <functional>
#include <map>
#include <string>

namespace snare::data {

/// Contents of the regular-file members whose path (as stored, e.g. "RawData/labels.txt") passes
/// `want`, keyed by that path. Throws DataError naming the archive (and the member being read) when
/// the file is missing, not an archive, corrupt or truncated.
std::map<std::string, std::string> read_tar_members(const std::string& path,
                                                    const std::function<bool(const std::string&)>& want);

}  // namespace snare::data
