// snare::data — NumPy's .npy files and .npz archives (zip, stored or deflated) as ArraySources.
// Only plain numeric and bool arrays are read; object arrays are refused, never unpickled.
//
//   auto x = open_npy("x_train.npy");                  // streams rows from the file
//   auto y = open_npz_member("data.npz", "y_train");   // nullptr when the archive has no such member
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/array_source.h"

namespace snare::data {

/// The facts of an NPY header (format versions 1.0, 2.0 and 3.0).
struct NpyHeader {
  at::ScalarType dtype = at::kFloat;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  int64_t data_offset = 0;  ///< bytes from the start of the file to the first element
};

/// Parses the header at the start of `bytes` (which must hold at least the whole header; more is ignored).
/// Throws DataError naming `where` for a bad magic, an unsupported dtype (object, string, structured, unsigned
/// wider than 8 bits) or a malformed dictionary.
NpyHeader parse_npy_header(const std::string& bytes, const std::string& where);

/// An .npy file. Throws DataError when it is missing, not NPY, or shorter than its header says.
std::unique_ptr<ArraySource> open_npy(const std::string& path);

/// True when the file starts with the zip signature (an .npz).
bool is_zip_file(const std::string& path);
/// The array names in an .npz ("x_train" for member "x_train.npy").
std::vector<std::string> npz_members(const std::string& path);
/// The member `name` (without ".npy") of an .npz, or nullptr when there is none.
std::unique_ptr<ArraySource> open_npz_member(const std::string& path, const std::string& name);

}  // namespace snare::data
