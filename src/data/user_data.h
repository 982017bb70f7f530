// snare::data — a user's own data files as data sets: NumPy (.npz, a folder of .npy), HDF5, CSV and folders of
// images. The model's input shape decides the layout: data in the model's channels-first (IR) shape or in its
// Keras channels-last shape is taken, transposed once while it is read into float32; flat rows whose length is
// the input's size are reshaped in Keras order (as x.reshape(-1, H, W, C)). Every problem is a DataError that
// names the file, the array and expected vs found.
//
//   LoadOptions o;  o.input_shape = {1, 28, 28};  o.num_classes = 10;
//   Dataset d = load_user_npz("fmnist.npz", o);   // x_train (N,28,28) uint8 -> [N,1,28,28] float32
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/array_source.h"
#include "data/dataset.h"

namespace snare::data {

Dataset load_user_npz(const std::string& path, const LoadOptions& options);
Dataset load_user_npy(const std::string& dir, const LoadOptions& options);
Dataset load_user_h5(const std::string& path, const LoadOptions& options);
/// `spec` is "TRAIN.csv" or "TRAIN.csv,TEST.csv".
Dataset load_user_csv(const std::string& spec, const LoadOptions& options);
Dataset load_user_images(const std::string& dir, const LoadOptions& options);
/// True for the spec prefixes above ("npz", "npy", "h5", "csv", "images").
bool is_user_data_kind(const std::string& kind);

/// How an array's samples map onto the model's input.
struct InputLayout {
  std::vector<int64_t> file_shape;  ///< one sample as the file's elements are ordered (after a reshape of flat rows)
  bool channels_last = false;       ///< file_shape is the channels-last permutation of the model's shape
  std::vector<int64_t> model_shape; ///< the per-sample shape the data is held in (channels-first)
};
/// Decides the layout (see the file comment); throws DataError printing the model's expected shapes next to the
/// data's, or when both readings fit and `layout` is kAuto.
InputLayout plan_input_layout(const ArrayInfo& array, const std::vector<int64_t>& model_shape, Layout layout);

/// Reads an array of inputs as float32 [N, model shape...], converting dtype and layout in one pass over the rows.
/// Throws DataError at the first NaN or Inf, naming the sample.
at::Tensor read_inputs(ArraySource& source, const std::vector<int64_t>& model_shape, Layout layout);
/// Reads labels (integers, integral floats, or one-hot rows) as int64 [N]; checks 0 <= y < num_classes when
/// num_classes > 0.
at::Tensor read_labels(ArraySource& source, int64_t num_classes);
/// Reads group ids (integers) as int64 [N].
at::Tensor read_groups(ArraySource& source);

/// An in-memory tensor as an ArraySource (CSV features go through read_inputs this way).
std::unique_ptr<ArraySource> tensor_source(at::Tensor values, std::string where);

}  // namespace snare::data
