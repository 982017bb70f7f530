// snare::pipeline sources: where a run's model comes from (a file or a built-in architecture) and its data (a named
// set or a user's files with their scaling), and the recipe constants of a built-in baseline.
//
//   ir::Graph model = pipeline::load_source({"model.h5", "", 1});
//   data::Dataset d = pipeline::load_data({"mnist"}, model, &model);  // records the scale into the model
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/graph.h"

namespace snare::pipeline {

struct ModelSource {
  std::string path;
  std::string arch;
  uint64_t seed = 1;
};

struct DataOptions {
  std::string spec;
  std::string scale;  ///< empty: the model's recorded scale, else the data set's default
  std::vector<double> mean, stddev;  ///< --mean/--std: standardisation statistics (imply --scale standard)
  // A user's files (docs/data.md).
  std::string layout;        ///< channels-last | channels-first; empty: from the shapes
  std::string label_column;  ///< csv
  std::string group_column;  ///< csv
  double test_split = 0.0;   ///< csv / images without separate test data
  std::string resize;        ///< images: HxW
  std::vector<std::string> arrays;  ///< npz/npy/h5: ROLE=NAME renames (x_train=images)
};

ir::Graph load_source(const ModelSource& source);

/// Loads the data set; the scale comes from options.scale (or mean/stddev), else from the model's input_scaling,
/// else from the data set's default. Records the scaling used, the data set and its class names into
/// `record_into` when given.
data::Dataset load_data(const DataOptions& options, const ir::Graph& model, ir::Graph* record_into = nullptr);

/// Checks an output model path before any work: a known extension (OptionError) and an existing
/// folder (OutputError), so a long run does not fail only when it saves.
void check_output_path(const std::string& path);

/// Learning rate for training from scratch: Adam at 3e-3 decayed by a cosine to 0. LeNet-5 reaches
/// 0.989-0.990 on MNIST in 3 epochs here, against 0.982-0.985 at a constant 1e-3 (measured, seeds 1 and 2).
inline constexpr double kFromScratchLr = 3e-3;
/// Keras' model.fit defaults (Adam's learning rate, batch_size): the `keras` baseline recipe of reduce.
inline constexpr double kKerasLr = 1e-3;
inline constexpr int64_t kKerasBatch = 32;

}  // namespace snare::pipeline
