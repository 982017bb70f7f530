#include "data/h5_array.h"

#include <fmt/format.h>
#include <hdf5.h>

#include <cstring>
#include <fstream>
#include <limits>

#include "common/error.h"
#include "common/hdf5_heaps.h"
#include "common/memory_limit.h"

namespace snare::data {

namespace {

/// Owns one hid_t.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id(Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Id& operator=(Id&&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

}  // namespace

struct H5File::Handle {
  explicit Handle(Id f) : file(std::move(f)) {}
  Id file;
};

namespace {

Id open_file(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors come back as exceptions, not prints
  if (!is_hdf5_file(path)) throw DataError(fmt::format("{}: not an HDF5 file (no HDF5 signature)", path));
  if (std::string problem = hdf5_heap_problem_in_file(path); !problem.empty()) {
    throw DataError(fmt::format("{}: damaged HDF5 file: {}", path, problem));
  }
  Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.ok()) throw DataError(fmt::format("{}: cannot open as HDF5 (corrupt or truncated?)", path));
  return f;
}

/// The LibTorch type a stored HDF5 type is read as, and the matching native memory type.
std::pair<at::ScalarType, hid_t> memory_type_of(hid_t stored, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(stored);
  const size_t size = H5Tget_size(stored);
  if (cls == H5T_FLOAT) {
    if (size == 2) return {at::kHalf, H5T_NATIVE_FLOAT};  // read converted: HDF5 has no native half
    if (size == 4) return {at::kFloat, H5T_NATIVE_FLOAT};
    if (size == 8) return {at::kDouble, H5T_NATIVE_DOUBLE};
  }
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(stored) == H5T_SGN_2;
    if (size == 1) return is_signed ? std::pair{at::kChar, H5T_NATIVE_INT8} : std::pair{at::kByte, H5T_NATIVE_UINT8};
    if (size == 2 && is_signed) return {at::kShort, H5T_NATIVE_INT16};
    if (size == 4 && is_signed) return {at::kInt, H5T_NATIVE_INT32};
    if (size == 8 && is_signed) return {at::kLong, H5T_NATIVE_INT64};
    if (size == 2) return {at::kInt, H5T_NATIVE_INT32};  // uint16 widened
    if (size == 4) return {at::kLong, H5T_NATIVE_INT64};  // uint32 widened
  }
  if (cls == H5T_ENUM && size == 1) return {at::kByte, H5T_NATIVE_UINT8};  // h5py's bool
  throw DataError(fmt::format("{}: unsupported HDF5 element type (class {}, {} bytes); snare reads integer, float and "
                              "bool datasets",
                              where, static_cast<int>(cls), size));
}

class H5Dataset : public ArraySource {
 public:
  H5Dataset(std::shared_ptr<const H5File::Handle> file, hid_t dataset, const std::string& where)
      : file_(std::move(file)), set_(dataset, H5Dclose) {
    info_.where = where;
    Id type(H5Dget_type(set_.get()), H5Tclose);
    auto [dtype, mem] = memory_type_of(type.get(), where);
    info_.dtype = dtype == at::kHalf ? at::kFloat : dtype;
    mem_type_ = mem;
    Id space(H5Dget_space(set_.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 1) throw DataError(fmt::format("{}: a scalar, expected an array with one row per sample", where));
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    // A dataset's dims are declared, not stored: a few KB of file can declare terabytes (chunks never written read
    // as the fill value). Refuse before anything is allocated what the memory limit does not allow (as float32,
    // which inputs become) and what the stored bytes cannot hold.
    uint64_t elements = 1;
    for (hsize_t d : dims) {
      if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 8 / d) {
        throw DataError(fmt::format("{}: declares a shape of more than 2^61 elements", where));
      }
      elements *= d;
      info_.shape.push_back(static_cast<int64_t>(d));
    }
    const uint64_t as_float = elements * std::max<uint64_t>(4, at::elementSize(info_.dtype));
    const uint64_t stored = H5Dget_storage_size(set_.get());
    if (as_float > memory_limit() || beyond_decompression(elements * at::elementSize(dtype), stored)) {
      throw DataError(fmt::format("{}: declares {} values ({} as float32) but stores {} bytes; more than the file holds "
                                  "or the memory limit {} allows", where, elements, size_text(as_float), stored,
                                  memory_limit_text()));
    }
    refuse_chunks_never_written(dims);
  }
  const ArrayInfo& info() const override { return info_; }
  void read_rows(int64_t begin, int64_t count, void* dst) override {
    if (count == 0) return;
    Id file_space(H5Dget_space(set_.get()), H5Sclose);
    std::vector<hsize_t> start(info_.shape.size(), 0), extent(info_.shape.begin(), info_.shape.end());
    start[0] = static_cast<hsize_t>(begin);
    extent[0] = static_cast<hsize_t>(count);
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
    Id mem_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), H5Sclose);
    if (H5Dread(set_.get(), mem_type_, mem_space.get(), file_space.get(), H5P_DEFAULT, dst) < 0) {
      throw DataError(fmt::format("{}: reading rows {}..{} failed (file truncated or corrupt?)", info_.where, begin,
                                  begin + count));
    }
  }

 private:
  /// HDF5 reads a chunked dataset chunk by chunk, a look-up in the chunk index each (tens of microseconds), written
  /// or not: a few KB of file can declare millions of chunks never written, which read as the fill value and take
  /// minutes. Chunks a file stores cost bytes of it; refuse a layout of mostly chunks never written.
  void refuse_chunks_never_written(const std::vector<hsize_t>& dims) const {
    constexpr uint64_t kAlwaysRead = 65536;  // a second or two of look-ups at most
    Id plist(H5Dget_create_plist(set_.get()), H5Pclose);
    if (!plist.ok() || H5Pget_layout(plist.get()) != H5D_CHUNKED) return;
    const int rank = static_cast<int>(dims.size());
    std::vector<hsize_t> chunk(dims.size(), 0);
    if (H5Pget_chunk(plist.get(), rank, chunk.data()) != rank) {
      throw DataError(fmt::format("{}: chunked, but its chunk shape has not {} dimensions (corrupt?)", info_.where,
                                  rank));
    }
    uint64_t chunks = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (chunk[i] == 0) throw DataError(fmt::format("{}: a chunk dimension of 0 (corrupt?)", info_.where));
      chunks *= (dims[i] + chunk[i] - 1) / chunk[i];  // at most the element count, checked above
    }
    if (chunks <= kAlwaysRead) return;
    Id space(H5Dget_space(set_.get()), H5Sclose);
    hsize_t written = 0;
    if (H5Dget_num_chunks(set_.get(), space.get(), &written) < 0) {
      throw DataError(fmt::format("{}: cannot count its chunks (corrupt or truncated?)", info_.where));
    }
    if (chunks > 2 * written) {
      throw DataError(fmt::format("{}: declares {} chunks but stores {}; the others would read as the fill value, "
                                  "one look-up each (write the whole dataset, or larger chunks)",
                                  info_.where, chunks, written));
    }
  }

  std::shared_ptr<const H5File::Handle> file_;  // the file stays open while a dataset of it is read
  Id set_;
  hid_t mem_type_;
  ArrayInfo info_;
};

herr_t collect_dataset(hid_t, const char* name, const H5O_info_t* info, void* out) {
  if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

bool is_hdf5_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  return in.gcount() == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

H5File::H5File(const std::string& path) : path_(path), file_(std::make_shared<const Handle>(open_file(path))) {}

std::unique_ptr<ArraySource> H5File::dataset(const std::string& name) const {
  const hid_t f = file_->file.get();
  if (H5Lexists(f, name.c_str(), H5P_DEFAULT) <= 0) return nullptr;
  hid_t set = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  if (set < 0) throw DataError(fmt::format("{}: '{}' is not a dataset", path_, name));
  return std::make_unique<H5Dataset>(file_, set, fmt::format("{}: {}", path_, name));
}

std::vector<std::string> H5File::dataset_names() const {
  std::vector<std::string> names;
  H5Ovisit2(file_->file.get(), H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &names, H5O_INFO_BASIC);
  return names;
}

std::unique_ptr<ArraySource> open_h5_dataset(const std::string& path, const std::string& name) {
  return H5File(path).dataset(name);
}

std::vector<std::string> h5_dataset_names(const std::string& path) { return H5File(path).dataset_names(); }

}  // namespace snare::data
