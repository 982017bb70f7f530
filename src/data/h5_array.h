// snare::data — numeric HDF5 datasets (as h5py writes them) as ArraySources.
//
//   H5File f("data.h5");                  // checked and opened once
//   auto x = f.dataset("x_train");        // nullptr when the file has no such dataset
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/array_source.h"

namespace snare::data {

/// True when the file starts with the HDF5 signature.
bool is_hdf5_file(const std::string& path);
/// One HDF5 file opened for reading. The signature and heap checks (common/hdf5_heaps.h) scan the whole file,
/// so a file whose datasets are looked up by several names is checked and opened once; the datasets it returns
/// keep it open. Throws DataError naming the file when it is not readable HDF5.
class H5File {
 public:
  explicit H5File(const std::string& path);
  /// The dataset at `name` (a path inside the file, "x_train" or "group/x"), or nullptr when there is none.
  /// Throws DataError naming the file when `name` is not a numeric dataset.
  std::unique_ptr<ArraySource> dataset(const std::string& name) const;
  /// Paths of all datasets in the file, for messages.
  std::vector<std::string> dataset_names() const;

  struct Handle;

 private:
  std::string path_;
  std::shared_ptr<const Handle> file_;
};

/// H5File(path).dataset(name) and H5File(path).dataset_names(), for one look-up.
std::unique_ptr<ArraySource> open_h5_dataset(const std::string& path, const std::string& name);
std::vector<std::string> h5_dataset_names(const std::string& path);

}  // namespace snare::data
