#include "io/keras/archive.h"

#include <fmt/format.h>
#include <zip.h>

#include <fstream>
#include <memory>

#include "common/error.h"
#include "common/memory_limit.h"

namespace snare::io::keras::archive {

namespace {

struct ArchiveCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;

struct EntryCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

}  // namespace

bool starts_like_zip(const std::string& bytes) { return bytes.size() >= 4 && bytes.compare(0, 4, "PK\3\4") == 0; }

bool is_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string magic(4, '\0');
  return in.read(magic.data(), 4) && starts_like_zip(magic);
}

namespace {

std::map<std::string, std::string> read_open_entries(zip_t* z, const std::string& path,
                                                     const std::vector<std::string>& names) {
  std::map<std::string, std::string> out;
  for (const std::string& name : names) {
    zip_int64_t index = zip_name_locate(z, name.c_str(), 0);
    if (index < 0) continue;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
      throw ModelError(fmt::format("{}: cannot read zip entry '{}'", path, name));
    }
    // The sizes come from the archive, which anyone can write: no more than deflate can give back from the
    // compressed bytes, and no more than the memory limit, before allocating.
    const uint64_t compressed = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
    if (st.size > (uint64_t{64} << 20) && beyond_decompression(st.size, compressed)) {
      throw ModelError(fmt::format("{}: zip entry '{}' claims {} bytes from {} compressed; refused before reading",
                                   path, name, st.size, compressed));
    }
    if (st.size > memory_limit()) {
      throw ModelError(fmt::format("{}: zip entry '{}' claims {} bytes, more than the memory limit of {}; refused "
                                   "before reading", path, name, st.size, memory_limit_text()));
    }
    std::unique_ptr<zip_file_t, EntryCloser> f(zip_fopen_index(z, static_cast<zip_uint64_t>(index), 0));
    std::string bytes(static_cast<size_t>(st.size), '\0');
    if (!f || zip_fread(f.get(), bytes.data(), st.size) != static_cast<zip_int64_t>(st.size)) {
      throw ModelError(fmt::format("{}: cannot read zip entry '{}' (archive damaged?)", path, name));
    }
    out[name] = std::move(bytes);
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> read_entries(const std::string& path, const std::vector<std::string>& names) {
  int code = 0;
  Archive z(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!z) throw ModelError(fmt::format("{}: not a readable zip archive ({})", path, zip_error_text(code)));
  return read_open_entries(z.get(), path, names);
}

std::map<std::string, std::string> read_entries_in_memory(const std::string& bytes, const std::string& label,
                                                          const std::vector<std::string>& names) {
  zip_error_t error;
  zip_error_init(&error);
  // The source does not own `bytes` (freep 0), which outlives the archive closed below.
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  zip_t* raw = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error) : nullptr;
  if (!raw) {
    std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    if (src) zip_source_free(src);
    throw ModelError(fmt::format("{}: not a readable zip archive ({})", label, why));
  }
  zip_error_fini(&error);
  Archive z(raw);
  return read_open_entries(z.get(), label, names);
}

void write_entries(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries,
                   std::time_t time) {
  int code = 0;
  Archive z(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
  if (!z) throw OutputError(fmt::format("{}: cannot create the zip archive ({})", path, zip_error_text(code)));
  for (const auto& [name, bytes] : entries) {
    // The buffer stays owned by `entries`, which outlives zip_close below.
    zip_source_t* src = zip_source_buffer(z.get(), bytes.data(), bytes.size(), 0);
    zip_int64_t index = src ? zip_file_add(z.get(), name.c_str(), src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) : -1;
    if (index < 0) {
      if (src) zip_source_free(src);
      throw OutputError(fmt::format("{}: cannot add '{}' to the zip archive: {}", path, name, zip_strerror(z.get())));
    }
    zip_set_file_compression(z.get(), static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
    zip_file_set_mtime(z.get(), static_cast<zip_uint64_t>(index), time, 0);
  }
  zip_t* raw = z.release();
  if (zip_close(raw) != 0) {
    std::string why = zip_strerror(raw);
    zip_discard(raw);
    throw OutputError(fmt::format("{}: cannot write the zip archive: {}", path, why));
  }
}

}  // namespace snare::io::keras::archive
