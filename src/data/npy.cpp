#include "data/npy.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/error.h"
#include "common/memory_limit.h"

namespace snare::data {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

uint32_t little_u32(const std::string& b, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

/// The text after `'key':` in the header dictionary, with leading spaces skipped.
size_t value_of(const std::string& dict, const std::string& key, const std::string& where) {
  size_t k = dict.find("'" + key + "'");
  if (k == std::string::npos) k = dict.find("\"" + key + "\"");
  if (k == std::string::npos) throw DataError(fmt::format("{}: NPY header has no '{}': {}", where, key, dict));
  size_t colon = dict.find(':', k);
  if (colon == std::string::npos) throw DataError(fmt::format("{}: malformed NPY header: {}", where, dict));
  size_t v = colon + 1;
  while (v < dict.size() && dict[v] == ' ') ++v;
  return v;
}

void parse_descr(const std::string& descr, NpyHeader& h, const std::string& where) {
  if (descr.size() >= 2 && descr[1] == 'O') {
    throw DataError(fmt::format("{}: holds Python objects (dtype '{}'); snare never unpickles: save a numeric array "
                                "(e.g. x.astype('float32'))",
                                where, descr));
  }
  if (descr.size() < 3) throw DataError(fmt::format("{}: unsupported NPY dtype '{}'", where, descr));
  const char order = descr[0], kind = descr[1];
  const std::string size = descr.substr(2);
  h.big_endian = order == '>';
  struct Known {
    char kind;
    const char* size;
    at::ScalarType type;
  };
  static const Known kKnown[] = {{'u', "1", at::kByte},  {'i', "1", at::kChar},   {'i', "2", at::kShort},
                                 {'i', "4", at::kInt},   {'i', "8", at::kLong},   {'f', "2", at::kHalf},
                                 {'f', "4", at::kFloat}, {'f', "8", at::kDouble}, {'b', "1", at::kBool}};
  for (const Known& k : kKnown) {
    if (kind == k.kind && size == k.size) {
      h.dtype = k.type;
      return;
    }
  }
  throw DataError(fmt::format("{}: unsupported NPY dtype '{}' (snare reads uint8, int8, int16, int32, int64, float16, "
                              "float32, float64 and bool)",
                              where, descr));
}

void byteswap(void* data, int64_t elements, size_t width) {
  auto* p = static_cast<uint8_t*>(data);
  if (width == 1) return;
  for (int64_t i = 0; i < elements; ++i, p += width) std::reverse(p, p + width);
}

int64_t elements_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

/// The shared part of an NPY file and an NPZ member: the header's facts and the conversion of what was read.
class NpySourceBase : public ArraySource {
 public:
  const ArrayInfo& info() const override { return info_; }
  void read_rows(int64_t begin, int64_t count, void* dst) override {
    if (begin < 0 || count < 0 || begin + count > info_.rows()) {
      throw InternalError(fmt::format("{}: rows {}..{} asked of {}", info_.where, begin, begin + count, info_.rows()));
    }
    if (count == 0) return;
    if (header_.fortran_order && info_.shape.size() > 1) return read_rows_fortran(begin, count, dst);
    read_raw(begin * info_.row_bytes(), count * info_.row_bytes(), dst);
    to_native(dst, count * info_.row_elements());
  }

 protected:
  void init(const NpyHeader& header, std::string where) {
    header_ = header;
    info_.where = std::move(where);
    info_.dtype = header.dtype;
    info_.shape = header.shape;
    if (info_.shape.empty()) {
      throw DataError(fmt::format("{}: a scalar, expected an array with one row per sample", info_.where));
    }
  }
  int64_t data_bytes() const { return elements_of(info_.shape) * static_cast<int64_t>(c10::elementSize(info_.dtype)); }
  void to_native(void* dst, int64_t elements) const {
    if (header_.big_endian) byteswap(dst, elements, c10::elementSize(info_.dtype));
  }
  /// Fortran-ordered data is the transposed array in C order: read whole once, then served by rows.
  void read_rows_fortran(int64_t begin, int64_t count, void* dst) {
    if (!whole_.defined()) {
      std::vector<int64_t> reversed(info_.shape.rbegin(), info_.shape.rend());
      at::Tensor raw = at::empty(reversed, at::TensorOptions().dtype(info_.dtype));
      read_raw(0, data_bytes(), raw.data_ptr());
      to_native(raw.data_ptr(), raw.numel());
      std::vector<int64_t> back(reversed.size());
      for (size_t i = 0; i < back.size(); ++i) back[i] = static_cast<int64_t>(back.size() - 1 - i);
      whole_ = raw.permute(back);
    }
    at::Tensor out = at::from_blob(dst, shape_of(count), at::TensorOptions().dtype(info_.dtype));
    out.copy_(whole_.slice(0, begin, begin + count));
  }
  std::vector<int64_t> shape_of(int64_t rows) const {
    std::vector<int64_t> s = info_.shape;
    s[0] = rows;
    return s;
  }
  /// Reads `bytes` bytes of data starting `offset` bytes after the header.
  virtual void read_raw(int64_t offset, int64_t bytes, void* dst) = 0;

  NpyHeader header_;
  ArrayInfo info_;
  at::Tensor whole_;
};

class NpyFile : public NpySourceBase {
 public:
  explicit NpyFile(const std::string& path) : path_(path) {
    fd_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_.fd < 0) throw DataError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
    struct stat st{};
    ::fstat(fd_.fd, &st);
    std::string head(std::min<int64_t>(st.st_size, 65536 + 12), '\0');
    if (::pread(fd_.fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size())) {
      throw DataError(fmt::format("{}: cannot read the NPY header", path));
    }
    NpyHeader h = parse_npy_header(head, path);
    init(h, path);
    const int64_t need = h.data_offset + data_bytes();
    if (st.st_size < need) {
      throw DataError(fmt::format("{}: truncated: shape {} of {} needs {} bytes, the file has {}", path,
                                  fmt::join(h.shape, "x"), dtype_name(h.dtype), need, st.st_size));
    }
  }

 private:
  void read_raw(int64_t offset, int64_t bytes, void* dst) override {
    auto* p = static_cast<char*>(dst);
    int64_t at = header_.data_offset + offset;
    while (bytes > 0) {
      ssize_t got = ::pread(fd_.fd, p, static_cast<size_t>(std::min<int64_t>(bytes, 1 << 30)), at);
      if (got <= 0) throw DataError(fmt::format("{}: read failed at byte {} ({})", path_, at, std::strerror(errno)));
      p += got;
      at += got;
      bytes -= got;
    }
  }
  /// Closes the file also when the constructor throws (a damaged header), which ~NpyFile would not.
  struct Descriptor {
    int fd = -1;
    Descriptor() = default;
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
  };
  std::string path_;
  Descriptor fd_;
};

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::unique_ptr<zip_t, ZipCloser> open_zip(const std::string& path) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!z) {
    zip_error_t e;
    zip_error_init_with_code(&e, err);
    std::string why = zip_error_strerror(&e);
    zip_error_fini(&e);
    throw DataError(fmt::format("{}: not a readable NPZ (zip) archive: {}", path, why));
  }
  return std::unique_ptr<zip_t, ZipCloser>(z);
}

/// One member of an NPZ, decompressed as a stream: rows must be asked for in order.
class NpzMember : public NpySourceBase {
 public:
  NpzMember(const std::string& path, zip_int64_t index, const std::string& name)
      : zip_(open_zip(path)), where_(fmt::format("{}: {}", path, name)) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(index), 0, &st) != 0) {
      throw DataError(fmt::format("{}: cannot stat the member", where_));
    }
    member_size_ = static_cast<int64_t>(st.size);
    // The member's declared size bounds every later allocation (the data must fit in it): it must be one the
    // compressed bytes can give and the memory limit allows.
    if (st.size > memory_limit() || beyond_decompression(st.size, st.comp_size)) {
      throw DataError(fmt::format("{}: the member claims {} from {} compressed, beyond what deflate gives or the memory "
                                  "limit {}", where_, size_text(st.size), size_text(st.comp_size), memory_limit_text()));
    }
    file_.reset(zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(index), 0));
    if (!file_) throw DataError(fmt::format("{}: cannot open the member: {}", where_, zip_strerror(zip_.get())));
    // Header: magic, version, length, then the dictionary.
    std::string head(10, '\0');
    read_exact(head.data(), 10);
    const int major = static_cast<uint8_t>(head[6]);
    const size_t len_bytes = major == 1 ? 2 : 4;
    std::string more(len_bytes == 2 ? 0 : 2, '\0');
    if (!more.empty()) read_exact(more.data(), static_cast<int64_t>(more.size()));
    head += more;
    const size_t dict_len = head.compare(0, kMagicSize, kMagic, kMagicSize) == 0 ? little_u32(head, 8, len_bytes) : 0;
    // As for .npy files: the header is at most 64 KB (NumPy writes a few hundred bytes) and inside the member.
    if (dict_len > 65536 || static_cast<int64_t>(head.size() + dict_len) > member_size_) {
      throw DataError(fmt::format("{}: the NPY header claims {} bytes; the member has {}", where_, dict_len, member_size_));
    }
    std::string dict(dict_len, '\0');
    read_exact(dict.data(), static_cast<int64_t>(dict_len));
    NpyHeader h = parse_npy_header(head + dict, where_);
    init(h, where_);
    if (member_size_ < h.data_offset + data_bytes()) {
      throw DataError(fmt::format("{}: truncated: shape {} of {} needs {} bytes, the member has {}", where_,
                                  fmt::join(h.shape, "x"), dtype_name(h.dtype), h.data_offset + data_bytes(),
                                  member_size_));
    }
  }

 private:
  void read_exact(char* dst, int64_t bytes) {
    while (bytes > 0) {
      zip_int64_t got = zip_fread(file_.get(), dst, static_cast<zip_uint64_t>(std::min<int64_t>(bytes, 1 << 30)));
      if (got <= 0) {
        throw DataError(fmt::format("{}: truncated or corrupt member at byte {} ({})", where_, position_,
                                    got < 0 ? zip_file_strerror(file_.get()) : "end of data"));
      }
      dst += got;
      bytes -= got;
      position_ += got;
    }
  }
  void read_raw(int64_t offset, int64_t bytes, void* dst) override {
    if (offset < next_) throw InternalError(fmt::format("{}: NPZ members are read forwards", where_));
    // Skipping rows of a compressed stream means decompressing them: read and drop.
    for (std::vector<char> skip; next_ < offset;) {
      skip.resize(static_cast<size_t>(std::min<int64_t>(offset - next_, 1 << 20)));
      read_exact(skip.data(), static_cast<int64_t>(skip.size()));
      next_ += static_cast<int64_t>(skip.size());
    }
    read_exact(static_cast<char*>(dst), bytes);
    next_ = offset + bytes;
  }

  std::unique_ptr<zip_t, ZipCloser> zip_;
  std::unique_ptr<zip_file_t, ZipFileCloser> file_;
  std::string where_;
  int64_t member_size_ = 0;
  int64_t position_ = 0;
  int64_t next_ = 0;
};

}  // namespace

NpyHeader parse_npy_header(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 10 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    throw DataError(fmt::format("{}: not an NPY array (expected the magic \\x93NUMPY at the start)", where));
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  if (major < 1 || major > 3) throw DataError(fmt::format("{}: NPY format version {} is not supported", where, major));
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t start = 8 + len_bytes;
  if (bytes.size() < start) throw DataError(fmt::format("{}: truncated NPY header", where));
  const size_t dict_len = little_u32(bytes, 8, len_bytes);
  if (bytes.size() < start + dict_len) throw DataError(fmt::format("{}: truncated NPY header", where));
  const std::string dict = bytes.substr(start, dict_len);

  NpyHeader h;
  h.data_offset = static_cast<int64_t>(start + dict_len);
  size_t d = value_of(dict, "descr", where);
  if (d >= dict.size() || (dict[d] != '\'' && dict[d] != '"')) {
    throw DataError(fmt::format("{}: structured arrays are not supported (descr {}); save one plain array per name",
                                where, dict.substr(d, 40)));
  }
  size_t d_end = dict.find(dict[d], d + 1);
  if (d_end == std::string::npos) throw DataError(fmt::format("{}: malformed NPY header: {}", where, dict));
  parse_descr(dict.substr(d + 1, d_end - d - 1), h, where);

  size_t f = value_of(dict, "fortran_order", where);
  if (dict.compare(f, 4, "True") == 0) h.fortran_order = true;
  else if (dict.compare(f, 5, "False") != 0) throw DataError(fmt::format("{}: malformed NPY header: {}", where, dict));

  size_t s = value_of(dict, "shape", where);
  if (s >= dict.size() || dict[s] != '(') throw DataError(fmt::format("{}: malformed NPY shape: {}", where, dict));
  size_t s_end = dict.find(')', s);
  if (s_end == std::string::npos) throw DataError(fmt::format("{}: malformed NPY shape: {}", where, dict));
  std::string dims = dict.substr(s + 1, s_end - s - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
    if (pos >= dims.size()) break;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(dims.substr(pos), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || v < 0) throw DataError(fmt::format("{}: malformed NPY shape ({})", where, dims));
    h.shape.push_back(v);
    pos += used;
    while (pos < dims.size() && dims[pos] == 'L') ++pos;  // Python 2 wrote longs as 3L
  }
  // The shape comes from the file: its byte count must be a number (no overflow), and a sample must hold elements
  // (rows of nothing would be read one by one, forever for a large declared row count).
  int64_t bytes_total = static_cast<int64_t>(c10::elementSize(h.dtype));
  for (int64_t d : h.shape) {
    if (__builtin_mul_overflow(bytes_total, d, &bytes_total)) {
      throw DataError(fmt::format("{}: impossible NPY shape ({}): more bytes than any file holds", where, dims));
    }
  }
  for (size_t i = 1; i < h.shape.size(); ++i) {
    if (h.shape[i] == 0) {
      throw DataError(fmt::format("{}: NPY shape ({}) gives each sample no elements", where, dims));
    }
  }
  return h;
}

std::unique_ptr<ArraySource> open_npy(const std::string& path) { return std::make_unique<NpyFile>(path); }

bool is_zip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[4] = {};
  in.read(sig, 4);
  return in.gcount() == 4 && std::memcmp(sig, "PK\x03\x04", 4) == 0;
}

std::vector<std::string> npz_members(const std::string& path) {
  auto z = open_zip(path);
  std::vector<std::string> names;
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0);
    if (!name) continue;
    std::string s = name;
    if (s.size() > 4 && s.compare(s.size() - 4, 4, ".npy") == 0) s.resize(s.size() - 4);
    names.push_back(s);
  }
  return names;
}

std::unique_ptr<ArraySource> open_npz_member(const std::string& path, const std::string& name) {
  auto z = open_zip(path);
  zip_int64_t index = zip_name_locate(z.get(), (name + ".npy").c_str(), 0);
  if (index < 0) index = zip_name_locate(z.get(), name.c_str(), 0);
  if (index < 0) return nullptr;
  return std::make_unique<NpzMember>(path, index, name);
}

}  // namespace snare::data
