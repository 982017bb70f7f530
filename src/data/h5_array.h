// snare::data — numeric HDF5 datasets (as h5py writes them) as ArraySources.
//
//   auto x = open_h5_dataset("data.h5", "x_train");   // nullptr when the file has no such dataset
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/array_source.h"

namespace snare::data {

/// True when the file starts with the HDF5 signature.
bool is_hdf5_file(const std::string& path);
/// The dataset at `name` (a path inside the file, "x_train" or "group/x"), or nullptr when there is none.
/// Throws DataError naming the file when it is not readable HDF5 or the dataset is not numeric.
std::unique_ptr<ArraySource> open_h5_dataset(const std::string& path, const std::string& name);
/// Paths of all datasets in the file, for messages.
std::vector<std::string> h5_dataset_names(const std::string& path);

}  // namespace snare::data
