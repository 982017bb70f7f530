// snare::data — one array of a user's data file (an NPY file, an NPZ member, an HDF5 dataset, a
// folder of images), read in blocks of rows so that it is held once, as float32, in the final layout.
//
//   std::unique_ptr<ArraySource> src = open_npy("x_train.npy");
//   const ArrayInfo& a = src->info();              // shape [N, ...], dtype as stored
//   std::vector<uint8_t> buf(rows * a.row_bytes());
//   src->read_rows(0, rows, buf.data());            // C order, native byte order, a.dtype
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

namespace snare::data {

struct ArrayInfo {
  std::string where;            ///< names it in messages: "data.npz: x_train", "imgs/train"
  std::vector<int64_t> shape;   ///< dim 0 counts samples
  at::ScalarType dtype = at::kFloat;  ///< element type as stored (any byte order is fixed by read_rows)

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  /// Elements in one row (a sample): the product of shape[1:].
  int64_t row_elements() const;
  int64_t row_bytes() const { return row_elements() * static_cast<int64_t>(c10::elementSize(dtype)); }
};

class ArraySource {
 public:
  virtual ~ArraySource() = default;
  virtual const ArrayInfo& info() const = 0;
  /// Writes rows [begin, begin + count) into `dst` as C-ordered elements of info().dtype in this
  /// machine's byte order. Callers ask for increasing, non-overlapping ranges. Throws DataError
  /// naming info().where when the file is short or corrupt.
  virtual void read_rows(int64_t begin, int64_t count, void* dst) = 0;
};

/// Dtype name as NumPy spells it ("uint8", "float32", ...), for messages.
std::string dtype_name(at::ScalarType dtype);

}  // namespace snare::data
