#include "data/tar_xz.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "common/error.h"

namespace snare::data {

namespace {

struct ArchiveCloser {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

std::string archive_message(struct archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unknown libarchive error";
}

}  // namespace

std::map<std::string, std::string> read_tar_members(const std::string& path,
                                                    const std::function<bool(const std::string&)>& want) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(fmt::format("{}: file not found", path));
  std::unique_ptr<struct archive, ArchiveCloser> ar(archive_read_new());
  if (!ar) throw DataError(fmt::format("{}: cannot allocate an archive reader", path));
  archive_read_support_filter_all(ar.get());
  archive_read_support_format_tar(ar.get());
  if (archive_read_open_filename(ar.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    throw DataError(fmt::format("{}: cannot open as a tar archive: {}", path, archive_message(ar.get())));
  }
  std::map<std::string, std::string> out;
  for (;;) {
    struct archive_entry* entry = nullptr;
    int rc = archive_read_next_header(ar.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    // A warning here (e.g. an odd header field) still leaves a usable entry; anything worse is corruption.
    if (rc < ARCHIVE_WARN) {
      throw DataError(fmt::format("{}: corrupt or truncated archive after {} members: {}", path, out.size(),
                                  archive_message(ar.get())));
    }
    std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    if (archive_entry_filetype(entry) != AE_IFREG || !want(name)) continue;
    std::string data;
    if (archive_entry_size_is_set(entry)) data.reserve(static_cast<size_t>(archive_entry_size(entry)));
    char buf[1 << 16];
    for (;;) {
      la_ssize_t got = archive_read_data(ar.get(), buf, sizeof buf);
      if (got == 0) break;
      if (got < 0) {
        throw DataError(fmt::format("{}: corrupt or truncated archive while reading member '{}': {}", path, name,
                                    archive_message(ar.get())));
      }
      data.append(buf, static_cast<size_t>(got));
    }
    if (archive_entry_size_is_set(entry) && static_cast<int64_t>(data.size()) != archive_entry_size(entry)) {
      throw DataError(fmt::format("{}: member '{}' is truncated: expected {} bytes, got {}", path, name,
                                  archive_entry_size(entry), data.size()));
    }
    out.emplace(std::move(name), std::move(data));
  }
  return out;
}

}  // namespace snare::data
