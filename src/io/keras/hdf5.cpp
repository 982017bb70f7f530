#include "io/keras/hdf5.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>

#include "common/error.h"
#include "common/hdf5_heaps.h"
#include "common/memory_limit.h"

namespace snare::io::keras::h5 {

namespace {

const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

/// Opens `name` below `loc` as whatever object it is; invalid Handle when absent. Each component is
/// checked with H5Lexists first because H5Oopen on a missing parent is an error, not a "no".
Handle open_object(hid_t loc, const std::string& name) {
  size_t pos = 0;
  while (true) {
    size_t slash = name.find('/', pos);
    std::string prefix = name.substr(0, slash);
    if (prefix.empty() || H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return {};
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  hid_t id = H5Oopen(loc, name.c_str(), H5P_DEFAULT);
  if (id < 0) return {};
  return Handle(id, H5Oclose);
}

std::string join_path(const std::string& base, const std::string& name) {
  if (base.empty() || base == "/") return "/" + name;
  return base + "/" + name;
}

herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

Handle string_type(StringStorage storage, size_t fixed_size) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (storage == StringStorage::kFixedAscii) {
    H5Tset_size(t.get(), fixed_size);
    H5Tset_strpad(t.get(), H5T_STR_NULLPAD);
    H5Tset_cset(t.get(), H5T_CSET_ASCII);
  } else {
    H5Tset_size(t.get(), H5T_VARIABLE);
    H5Tset_strpad(t.get(), H5T_STR_NULLTERM);
    H5Tset_cset(t.get(), storage == StringStorage::kVariableUtf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
  }
  return t;
}

/// A file access property list that does not take a file lock (read-only shared folders, NFS).
Handle access_list() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_file_locking(fapl.get(), false, true);
  return fapl;
}

/// An object creation property list (file, group or dataset) without modification times: HDF5 stamps every
/// object with the second it was written, so the same model written twice would differ in its bytes.
Handle without_times(hid_t property_class) {
  Handle plist(H5Pcreate(property_class), H5Pclose);
  H5Pset_obj_track_times(plist.get(), false);
  return plist;
}

Handle intermediate_groups() {
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return lcpl;
}

}  // namespace

void silence_hdf5_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

namespace {

/// The HDF5 signature sits at offset 0, 512, 1024, ... (after a user block); `read8(offset, buf)` reads 8 bytes there
/// and returns false past the end.
template <class Read8>
bool signature_found(Read8&& read8) {
  for (uint64_t offset = 0; offset <= (1 << 20); offset = offset == 0 ? 512 : offset * 2) {
    char buf[8];
    if (!read8(offset, buf)) return false;
    if (std::memcmp(buf, kSignature, 8) == 0) return true;
  }
  return false;
}

}  // namespace

bool bytes_have_hdf5_signature(const std::string& bytes) {
  return signature_found([&](uint64_t offset, char* buf) {
    if (offset + 8 > bytes.size()) return false;
    std::memcpy(buf, bytes.data() + offset, 8);
    return true;
  });
}

bool has_hdf5_signature(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return signature_found([&](uint64_t offset, char* buf) {
    in.seekg(static_cast<std::streamoff>(offset));
    return static_cast<bool>(in.read(buf, 8));
  });
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = -1;
}

std::string Group::where(const std::string& name) const { return join_path(path_, name); }

void Group::fail(const std::string& what) const {
  std::string m = fmt::format("{}: {}", label_, what);
  if (writing_) throw OutputError(m);
  throw ModelError(m);
}

bool Group::has_group(const std::string& name) const {
  Handle h = open_object(id(), name);
  return h.valid() && H5Iget_type(h.get()) == H5I_GROUP;
}

bool Group::has_dataset(const std::string& name) const {
  Handle h = open_object(id(), name);
  return h.valid() && H5Iget_type(h.get()) == H5I_DATASET;
}

bool Group::has_attr(const std::string& name) const { return H5Aexists(id(), name.c_str()) > 0; }

std::vector<std::string> Group::members() const {
  H5G_info_t info;
  if (H5Gget_info(id(), &info) < 0) fail(fmt::format("cannot list group '{}'", path_));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail(fmt::format("cannot list group '{}'", path_));
    std::string name(static_cast<size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(n));
    names.push_back(name);
  }
  return names;
}

std::vector<std::string> Group::attr_names() const {
  std::vector<std::string> names;
  hsize_t idx = 0;
  if (H5Aiterate2(id(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, &names) < 0) {
    fail(fmt::format("cannot list the attributes of '{}'", path_));
  }
  return names;
}

Group Group::group(const std::string& name) const {
  Handle h = open_object(id(), name);
  if (!h.valid() || H5Iget_type(h.get()) != H5I_GROUP) fail(fmt::format("no group '{}'", where(name)));
  return Group(std::move(h), where(name), label_, writing_);
}

Group Group::create_group(const std::string& name) const {
  if (has_group(name)) return group(name);
  Handle lcpl = intermediate_groups();
  Handle gcpl = without_times(H5P_GROUP_CREATE);
  hid_t g = H5Gcreate2(id(), name.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT);
  if (g < 0) fail(fmt::format("cannot create group '{}'", where(name)));
  return Group(Handle(g, H5Gclose), where(name), label_, writing_);
}

std::vector<std::string> Group::attr_strings(const std::string& name) const {
  if (!has_attr(name)) fail(fmt::format("'{}' has no attribute '{}'", path_, name));
  Handle attr(H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail(fmt::format("cannot open attribute '{}' of '{}'", name, path_));
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0) fail(fmt::format("cannot read attribute '{}' of '{}'", name, path_));
  auto n = static_cast<size_t>(count);
  if (H5Tget_class(type.get()) != H5T_STRING) {
    if (n == 0) return {};  // Keras writes an empty float array for "no names"
    fail(fmt::format("attribute '{}' of '{}' is not a string", name, path_));
  }
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> ptrs(n, nullptr);
    if (n > 0 && H5Aread(attr.get(), mem.get(), ptrs.data()) < 0) {
      fail(fmt::format("cannot read attribute '{}' of '{}'", name, path_));
    }
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    if (n > 0) H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t size = H5Tget_size(type.get());
    std::vector<char> buf(n * size + 1, '\0');
    if (n > 0 && H5Aread(attr.get(), type.get(), buf.data()) < 0) {
      fail(fmt::format("cannot read attribute '{}' of '{}'", name, path_));
    }
    bool space_pad = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
    for (size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * size, size);
      size_t end = space_pad ? s.find_last_not_of(' ') + 1 : s.find('\0');
      if (end != std::string::npos) s.resize(end);
      out.push_back(s);
    }
  }
  return out;
}

std::string Group::attr_string(const std::string& name) const {
  std::vector<std::string> v = attr_strings(name);
  if (v.size() != 1) fail(fmt::format("attribute '{}' of '{}' holds {} strings, expected 1", name, path_, v.size()));
  return v[0];
}

void Group::set_attr_string(const std::string& name, const std::string& value, StringStorage storage) const {
  Handle type = string_type(storage, std::max<size_t>(value.size(), 1));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (has_attr(name)) H5Adelete(id(), name.c_str());
  Handle attr(H5Acreate2(id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  herr_t rc = -1;
  if (attr.valid()) {
    if (storage == StringStorage::kFixedAscii) {
      std::string padded = value;
      padded.resize(std::max<size_t>(value.size(), 1), '\0');
      rc = H5Awrite(attr.get(), type.get(), padded.data());
    } else {
      const char* p = value.c_str();
      rc = H5Awrite(attr.get(), type.get(), &p);
    }
  }
  if (rc < 0) fail(fmt::format("cannot write attribute '{}' of '{}'", name, path_));
}

void Group::set_attr_strings(const std::string& name, const std::vector<std::string>& values,
                             StringStorage storage) const {
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  Handle type = string_type(storage, width);
  hsize_t dims[1] = {values.size()};
  Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  if (has_attr(name)) H5Adelete(id(), name.c_str());
  Handle attr(H5Acreate2(id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  herr_t rc = -1;
  if (attr.valid()) {
    if (storage == StringStorage::kFixedAscii) {
      std::vector<char> buf(values.size() * width, '\0');
      for (size_t i = 0; i < values.size(); ++i) std::memcpy(buf.data() + i * width, values[i].data(), values[i].size());
      rc = H5Awrite(attr.get(), type.get(), buf.data());
    } else {
      std::vector<const char*> ptrs;
      for (const std::string& v : values) ptrs.push_back(v.c_str());
      rc = H5Awrite(attr.get(), type.get(), ptrs.data());
    }
  }
  if (rc < 0) fail(fmt::format("cannot write attribute '{}' of '{}'", name, path_));
}

void Group::set_attr_empty(const std::string& name) const {
  hsize_t dims[1] = {0};
  Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  if (has_attr(name)) H5Adelete(id(), name.c_str());
  Handle attr(H5Acreate2(id(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail(fmt::format("cannot write attribute '{}' of '{}'", name, path_));
}

namespace {

/// A dataset's declared size against what the file can hold, before anything is allocated: a crafted file of a few
/// hundred kilobytes must not make snare allocate gigabytes. Deflate cannot compress beyond about 1032:1, and no
/// weight is worth more than half of this machine's memory. Returns the problem ("" when there is none).
std::string declared_size_problem(hid_t dataset, hid_t type, const std::vector<hsize_t>& dims, const std::string& where) {
  uint64_t count = 1;
  for (hsize_t d : dims) {
    if (d > (uint64_t{1} << 40) || __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count)) {
      return fmt::format("dataset '{}' declares an impossible shape", where);
    }
  }
  const uint64_t element = std::max<uint64_t>(1, H5Tget_size(type));
  uint64_t declared = 0;
  if (__builtin_mul_overflow(count, std::max<uint64_t>(element, 4), &declared)) {
    return fmt::format("dataset '{}' declares an impossible size", where);
  }
  const uint64_t stored = H5Dget_storage_size(dataset);
  hsize_t file_size = 0;
  Handle file(H5Iget_file_id(dataset), H5Fclose);
  if (file.valid()) H5Fget_filesize(file.get(), &file_size);
  if (file_size > 0 && stored > file_size) {
    return fmt::format("dataset '{}' declares {} bytes of storage, more than the whole file ({} bytes)", where, stored,
                       file_size);
  }
  constexpr uint64_t kSmall = uint64_t{64} << 20;  // below this, no check is worth a false alarm
  if (declared > kSmall && beyond_decompression(declared, std::max<uint64_t>(stored, 1))) {
    return fmt::format("dataset '{}' declares {} bytes but the file stores {} for it (more than any compression gives "
                       "back)", where, count * element, stored);
  }
  if (declared > memory_limit()) {
    return fmt::format("dataset '{}' needs {} as float32, more than the memory limit of {}", where,
                       size_text(declared), memory_limit_text());
  }
  return "";
}

}  // namespace

at::Tensor Group::dataset(const std::string& name) const {
  Handle h = open_object(id(), name);
  if (!h.valid() || H5Iget_type(h.get()) != H5I_DATASET) fail(fmt::format("no dataset '{}'", where(name)));
  Handle type(H5Dget_type(h.get()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(fmt::format("dataset '{}' is not numeric", where(name)));
  Handle space(H5Dget_space(h.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(fmt::format("cannot read the shape of dataset '{}'", where(name)));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  if (std::string problem = declared_size_problem(h.get(), type.get(), dims, where(name)); !problem.empty()) fail(problem);
  std::vector<int64_t> shape(dims.begin(), dims.end());
  at::Tensor t = at::empty(shape, at::TensorOptions(at::kFloat));
  if (t.numel() > 0 && H5Dread(h.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<float>()) < 0) {
    fail(fmt::format("cannot read dataset '{}' (file truncated or damaged?)", where(name)));
  }
  return t;
}

void Group::write_dataset(const std::string& name, const at::Tensor& value) const {
  at::Tensor t = value.detach().to(at::kCPU).to(at::kFloat).contiguous();
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
  Handle lcpl = intermediate_groups();
  Handle dcpl = without_times(H5P_DATASET_CREATE);
  Handle ds(H5Dcreate2(id(), name.c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
            H5Dclose);
  if (!ds.valid() ||
      (t.numel() > 0 && H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<float>()) < 0)) {
    fail(fmt::format("cannot write dataset '{}'", where(name)));
  }
}

File File::open(const std::string& path) {
  silence_hdf5_errors();
  Handle fapl = access_list();
  if (std::string problem = hdf5_heap_problem_in_file(path); !problem.empty()) {
    throw ModelError(fmt::format("{}: damaged HDF5 file: {}", path, problem));
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (f < 0) {
    if (!std::ifstream(path)) throw ModelError(fmt::format("{}: cannot open the file", path));
    throw ModelError(fmt::format("{}: not a readable HDF5 file (truncated or damaged)", path));
  }
  return File(Handle(f, H5Fclose), path, false);
}

File File::open_image(const std::string& bytes, const std::string& label) {
  silence_hdf5_errors();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 16, false);
  // H5Pset_file_image copies the buffer; the library never writes to it (read-only open).
  H5Pset_file_image(fapl.get(), const_cast<char*>(bytes.data()), bytes.size());
  static std::atomic<int> counter{0};
  std::string name = fmt::format("snare-image-{}", counter++);
  if (std::string problem = hdf5_heap_problem(bytes); !problem.empty()) {
    throw ModelError(fmt::format("{}: damaged HDF5 file: {}", label, problem));
  }
  hid_t f = H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (f < 0) throw ModelError(fmt::format("{}: not a readable HDF5 file (truncated or damaged)", label));
  return File(Handle(f, H5Fclose), label, false);
}

File File::create(const std::string& path, const std::string& label) {
  silence_hdf5_errors();
  std::string name = label.empty() ? path : label;
  Handle fapl = access_list();
  Handle fcpl = without_times(H5P_FILE_CREATE);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (f < 0) throw OutputError(fmt::format("{}: cannot create the HDF5 file", name));
  return File(Handle(f, H5Fclose), name, true);
}

File File::create_in_memory(const std::string& label) {
  silence_hdf5_errors();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 20, /*backing_store=*/false);
  static std::atomic<int> counter{0};
  std::string name = fmt::format("snare-memory-{}", counter++);
  Handle fcpl = without_times(H5P_FILE_CREATE);
  hid_t f = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (f < 0) throw OutputError(fmt::format("{}: cannot create an in-memory HDF5 file", label));
  return File(Handle(f, H5Fclose), label, true);
}

Group File::root() const {
  hid_t g = H5Gopen2(handle_.get(), "/", H5P_DEFAULT);
  if (g < 0) {
    std::string m = fmt::format("{}: cannot open the root group", label_);
    if (writing_) throw OutputError(m);
    throw ModelError(m);
  }
  return Group(Handle(g, H5Gclose), "/", label_, writing_);
}

std::string File::image() const {
  H5Fflush(handle_.get(), H5F_SCOPE_GLOBAL);
  ssize_t n = H5Fget_file_image(handle_.get(), nullptr, 0);
  if (n < 0) throw OutputError(fmt::format("{}: cannot take the HDF5 file image", label_));
  std::string bytes(static_cast<size_t>(n), '\0');
  if (H5Fget_file_image(handle_.get(), bytes.data(), bytes.size()) < 0) {
    throw OutputError(fmt::format("{}: cannot take the HDF5 file image", label_));
  }
  return bytes;
}

}  // namespace snare::io::keras::h5
