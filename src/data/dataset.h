// snare::data — labelled data sets held whole in memory as tensors.
//
// A Dataset has a train and a test Split; validation splits are carved from train by
// split_validation() (by group when the set has groups, e.g. HAR subjects, so overlapping windows of
// one subject never sit on both sides). Inputs are float32 in the IR's channels-first per-sample
// layout ([N,1,28,28] for MNIST, [N,9,128] for HAR windows, [N,F] for tabular sets); labels int64.
//
//   data::Dataset d = data::load_dataset("mnist", {data::Scale::kUnit});
//   auto [fit, val] = data::split_validation(d.train, 0.1, /*seed=*/1);
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace snare::data {

/// Input scaling, recorded with the data set and with models trained on it.
enum class Scale {
  kRaw,       ///< values as stored (MNIST pixels 0..255)
  kUnit,      ///< divided by 255 (image sets); the default
  kStandard,  ///< per channel (x - mean) / std with training-set statistics
};
const char* scale_name(Scale scale);
/// Parses "raw" | "unit" | "standard"; throws OptionError naming `field`.
Scale scale_from_name(const std::string& name, const std::string& field = "LoadOptions::scale");

struct Split {
  at::Tensor x;       ///< float32 [N, ...]
  at::Tensor y;       ///< int64 [N]
  at::Tensor groups;  ///< int64 [N] group id (e.g. subject) or undefined
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};

struct Dataset {
  std::string name;    ///< "mnist", "fashion-mnist", "har", ...
  std::string source;  ///< where it was read from
  Split train;
  Split test;
  /// A validation split the data file brings (NPZ/NPY/HDF5 `x_val`, `y_val`); empty when it is carved from train.
  Split validation;
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  Scale scale = Scale::kRaw;
  /// The scale used when neither the user (--scale) nor the model says otherwise: the kind's, or for a user's
  /// files `unit` when x is stored as uint8 (images) and `raw` otherwise.
  Scale default_scale = Scale::kUnit;
  /// Per-channel statistics used by kStandard (channel = dim 1 of x, or each feature for [N,F]).
  std::vector<double> mean, stddev;
};

/// How a user's arrays relate to the model's input: kAuto accepts whichever of the model's channels-first
/// (IR) or channels-last (Keras) shape the data has, and fails when both fit.
enum class Layout { kAuto, kChannelsLast, kChannelsFirst };
/// Parses "channels-last" | "channels-first"; throws OptionError naming `field`.
Layout layout_from_name(const std::string& name, const std::string& field = "LoadOptions::layout");

struct LoadOptions {
  /// Unset: the data set's default_scale.
  std::optional<Scale> scale;
  /// When set (from --mean/--std or read from a model), kStandard uses these instead of training-set statistics;
  /// one value stands for every channel.
  std::vector<double> mean, stddev;

  // For a user's files (npz:, npy:, h5:, csv:, images:); the built-in sets ignore these.
  /// The model's per-sample input shape in the IR's channels-first order ([C,H,W], [C,T], [F]); empty: the data's.
  std::vector<int64_t> input_shape;
  /// The model's number of classes; 0: one more than the largest label.
  int64_t num_classes = 0;
  Layout layout = Layout::kAuto;
  std::string label_column;  ///< csv: label column name (default: the last column)
  std::string group_column;  ///< csv: group column name (default: none)
  /// csv: and images: without a separate test set: the fraction of samples (of groups, where given) held out
  /// as the test split, chosen by `seed`.
  double test_split = 0.0;
  uint64_t seed = 1;
  int64_t resize_height = 0, resize_width = 0;  ///< images: resize every image to this (0: as stored)
  /// Array names in npz/npy/h5 files, by role: "x_train" -> "images" renames; unset roles keep their names.
  std::map<std::string, std::string> array_names;
};

/// Loads a data set by spec: "mnist", "fashion-mnist", a directory holding IDX files
/// ("train-images-idx3-ubyte[.gz]" ...), the kinds registered in dataset.cpp ("har", "har:DIR",
/// "wisdm", ...) and a user's files ("npz:F", "npy:DIR", "h5:F", "csv:F[,TEST]", "images:DIR";
/// user_data.h). Named sets are looked up under the data root (see data_root()). Throws DataError.
Dataset load_dataset(const std::string& spec, const LoadOptions& options = {});

/// The folder named sets live in: $SNARE_DATA if set, else ./data if it exists, else the `data`
/// folder beside the repository the executable was built in.
std::string data_root();

/// Applies the scale (options.scale, else d.default_scale) to raw values in place (x of train, validation and
/// test) and records it in `d`.
void apply_scale(Dataset& d, const LoadOptions& options);

/// Rows `index` (int64 [K]) of a split.
Split subset(const Split& split, const at::Tensor& index);

/// Carves a validation split of about `fraction` of `train`. With groups, whole groups are held out
/// (chosen by seed); otherwise a seeded random permutation. Returns {fit, validation}.
std::pair<Split, Split> split_validation(const Split& train, double fraction, uint64_t seed);

/// The three disjoint parts of the training data a reduction needs: `fit` to train on, `validation` for
/// the search's decisions, and `confirmation` (about `confirmation_fraction`, undefined when 0), which no
/// decision sees, for the final check of the tolerance. By group when `train` has groups. With
/// `confirmation_fraction` 0, fit and validation are exactly split_validation's.
struct Holdouts {
  Split fit, validation, confirmation;
};
Holdouts split_holdouts(const Split& train, double validation_fraction, double confirmation_fraction, uint64_t seed);

/// split_holdouts, except that a validation split the data set brings (d.validation) is used as it is, and
/// only the confirmation part is carved from train (by `confirmation_fraction` of it).
Holdouts holdouts_of(const Dataset& d, double validation_fraction, double confirmation_fraction, uint64_t seed);

/// Count of samples per class, [num_classes].
std::vector<int64_t> class_counts(const Split& split, int64_t num_classes);

}  // namespace snare::data
