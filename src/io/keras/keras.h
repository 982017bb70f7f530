// snare::io::keras — Keras model files in and out.
//
// Reads legacy HDF5 full-model files (tf.keras 2.x and Keras 3 weight naming) and Keras 3 `.keras`
// zips into an ir::Graph; writes legacy HDF5 (and `.keras` when asked) that keras.models.load_model
// reads. Writing keeps every config field of a model that was read from Keras (Layer::origin_config,
// Graph::meta "keras.*") and changes only what snare changed (units, filters, weights).
//
//   ir::Graph g = io::keras::read_keras("model.h5");
//   io::keras::write_keras(g, "out.h5");     // atomically
#pragma once

#include <string>

#include "ir/graph.h"

namespace snare::io::keras {

/// Reads a `.h5`/`.hdf5` legacy file or a `.keras` zip (decided by content, not by name). Throws
/// ModelError (corrupt, inconsistent, missing weights) or UnsupportedError (listing every unsupported
/// layer with name and class), each naming the file and layer.
ir::Graph read_keras(const std::string& path);
/// The same for a file's bytes held in memory (HDF5 through its file-image API); `label` names them in messages.
ir::Graph read_keras_bytes(const std::string& bytes, const std::string& label);
/// A Keras 3 model from the three parts of a `.keras` archive: config.json, model.weights.h5 and (may be empty)
/// metadata.json; `label` names them in messages.
ir::Graph read_keras_parts(const std::string& config_json, const std::string& weights_h5,
                           const std::string& metadata_json, const std::string& label);

/// Writes legacy HDF5 when `path` ends in .h5/.hdf5, a Keras 3 zip when it ends in .keras.
/// Atomic: on error nothing is left at `path`. Throws OutputError / UnsupportedError.
void write_keras(const ir::Graph& graph, const std::string& path);

}  // namespace snare::io::keras
