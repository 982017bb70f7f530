// snare::ir::Graph — an ordered network of Layers with one Input and named outputs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/layer.h"

namespace snare::ir {

/// How the model's inputs are scaled before its first layer, as it was trained, so that eval, prune and reduce
/// feed new data the same way. Files carry it as metadata (io/facts.h maps it both ways).
struct InputScaling {
  enum class Scale { kUnstated, kRaw, kUnit, kStandard };
  Scale scale = Scale::kUnstated;    ///< kUnit: x / 255; kStandard: (x - mean) / stddev per channel
  std::vector<double> mean, stddev;  ///< kStandard only; one value stands for every channel
};

struct Graph {
  std::string name;
  /// Topological order: every layer's inputs appear before it. layers[0] is the Input.
  std::vector<Layer> layers;
  /// Output layer names; the last layer when empty.
  std::vector<std::string> outputs;
  /// Model-level facts snare uses; they travel with the model in every format it writes.
  InputScaling input_scaling;
  std::string trained_on;                ///< the data set it was last trained or reduced on ("mnist"); "" unknown
  std::vector<std::string> class_names;  ///< one per output class, when a data set named them
  /// What a reader learned about the file that only the writer of the same format needs, as text: origin format
  /// and root attributes ("keras.training_config", "onnx.preprocess", ...), and a file's own metadata entries.
  std::map<std::string, std::string> meta;

  /// Index of the layer named `name`; -1 if absent. Searches from the last layer back (names are unique, verify
  /// checks it), so a reader appending layer by layer finds the newest ones at once.
  int index_of(const std::string& name) const;
  /// Layer by name; throws ModelError naming the graph if absent.
  const Layer& layer(const std::string& name) const;
  Layer& layer(const std::string& name);

  const Layer& input() const;
  /// The single output layer; throws ModelError when the graph has several.
  const Layer& output() const;
  std::vector<std::string> output_names() const;

  /// Per-sample input and output shapes (after infer_shapes()).
  const Shape& input_shape() const;
  const Shape& output_shape() const;

  /// Names of the layers that read `name`'s output, in graph order.
  std::vector<std::string> consumers(const std::string& name) const;

  /// Infers every Layer::output_shape and checks weights against attributes. Throws ModelError
  /// ("layer 'dense_1' (dense): weight [120,400] but input has 256 features") on any inconsistency.
  void infer_shapes();
  /// The same for the last layer only, from the shapes of the layers before it: a reader that appends and checks
  /// layer by layer stays linear in the number of layers (infer_shapes after each one is quadratic).
  void infer_shape_of_last();
};

/// Checks structural invariants (unique names, topological order, one Input, known outputs, weight
/// shapes, masks matching weights) and shape consistency on a copy. Throws ModelError.
void verify(const Graph& graph);

/// Readable, diffable text form of the graph: one line per layer with kind, inputs, attributes,
/// output shape, and each weight's shape and a checksum. Format in docs/ir.md.
std::string dump(const Graph& graph);

/// What one layer computes from its inputs, as a 64-bit hash: kind, attributes, output shape, every weight's and
/// mask's bytes (the layer's dump line, with whole masks instead of their kept counts). Equal fingerprints and equal
/// inputs give equal outputs; the layer's name does not count.
uint64_t layer_fingerprint(const Layer& layer);

/// Formats a shape as "(6, 28, 28)".
std::string shape_string(const Shape& shape);

}  // namespace snare::ir
