// snare::io — model files by format: the one place that maps a path to its reader and writer.
//
//   ir::Graph g = io::load_model("model.h5");        // .h5/.hdf5/.keras -> Keras, .onnx -> ONNX
//   io::save_model(g, "out.h5");                      // atomically, in the format the name says
#pragma once

#include <string>

#include "ir/graph.h"

namespace snare::io {

enum class ModelFormat { kKerasH5, kKerasZip, kOnnx };

/// Format from the file name's extension; throws OptionError ("model file name") for anything else.
ModelFormat format_of(const std::string& path);

/// Reads and verifies a model. Throws ModelError when the file is missing.
ir::Graph load_model(const std::string& path);

/// Writes `graph` in the format of `path`'s extension, atomically.
void save_model(const ir::Graph& graph, const std::string& path);

}  // namespace snare::io
