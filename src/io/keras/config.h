// Keras model configs (the JSON in `model_config` / config.json) to IR layers and back.
//
// One sorted table names every supported Keras layer class and its IR kind; parsing and generation
// each switch over the IR kind. Both Keras config dialects are read: Keras 2 (InputLayer
// `batch_input_shape`, inbound_nodes as [[name, node, tensor, kwargs]]) and Keras 3 (`batch_shape`,
// inbound_nodes as {"args": [__keras_tensor__ ...]}). Weights are not handled here (reader.cpp,
// layout.h); neither are files.
//
//   ModelConfig mc = parse_model_config(json, "model.h5");
//   for (const LayerEntry& e : mc.layers) if (auto why = unsupported_reason(e); !why.empty()) ...
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::io::keras {

/// Keras configs keep their key order, so a written config reads like the one Keras wrote.
using Json = nlohmann::ordered_json;

/// Config dialect of the file being read or written.
enum class Style { kKeras2, kKeras3 };
/// Keras 3 when `keras_version` starts with "3", else Keras 2.
Style style_of_version(const std::string& keras_version);

struct KerasClass {
  const char* name;  ///< Keras class_name
  ir::LayerKind kind;
};
/// Every supported Keras layer class, sorted by name.
const std::vector<KerasClass>& supported_classes();
/// The table entry for `class_name`, or nullptr.
const KerasClass* find_class(const std::string& class_name);

/// One entry of the config's "layers" list.
struct LayerEntry {
  Json entry;                        ///< the whole entry: class_name, config, (name, inbound_nodes, build_config)
  std::string class_name;
  std::string name;
  std::vector<std::string> inputs;   ///< producing layers (Sequential: the previous layer)
  size_t calls = 1;                  ///< inbound nodes (a shared layer is called more than once)
  /// Set for a layer read from a nested model (read flat): the legacy-HDF5 `model_weights` group that holds its
  /// weights, i.e. the outermost nested model's name. Empty: the layer's own group.
  std::string weights_group;
  /// Set with weights_group: the layer's name inside its nested model, which its weight names start with
  /// (differs from `name` when the flat name was prefixed to avoid a clash).
  std::string keras_name;
};

struct ModelConfig {
  std::string model_class;           ///< "Sequential", "Functional" or "Model"
  std::string name;
  Json skeleton;                     ///< the model entry with config.layers emptied
  std::vector<LayerEntry> layers;    ///< config order; the Input first
  /// Name of the Input snare added for a Sequential without an InputLayer entry (Keras 2 puts
  /// batch_input_shape on the first layer); empty otherwise.
  std::string implicit_input;
  std::vector<std::string> outputs;
};

/// Parses a model entry ({"class_name": "Sequential"|"Functional"|"Model", "config": ...}).
/// Nested models (a layer entry of class Sequential, Functional or Model) are read flat: their layers take the
/// nested entry's place (its InputLayer dropped, its first layers reading what fed the nested model, the outer
/// readers of the nested model reading its output layer); names are kept, and a name that would clash with
/// another layer's gets the nested model's name as prefix ("<nested>/<layer>", config name too). A Sequential
/// that held a nested model becomes a Functional (a flat Sequential could not hold a branching inner model).
/// Throws ModelError (malformed) or UnsupportedError (several inputs or outputs), naming `file`.
ModelConfig parse_model_config(const Json& model, const std::string& file);

/// Why the IR cannot hold this layer ("unknown layer class", "data_format channels_first", ...), or
/// "" when it can. Needs no shapes, so every problem of a file is found before any is reported.
std::string unsupported_reason(const LayerEntry& e);

/// The IR layer for an entry that passed unsupported_reason(), without weights. `input_shapes` are
/// the IR shapes of its inputs (for axes and rank checks). Throws ModelError/UnsupportedError.
ir::Layer to_ir_layer(const LayerEntry& e, const std::vector<ir::Shape>& input_shapes, const std::string& file);

/// An activation by its Keras name, in either dialect: the IR's names plus Keras 3's "silu" (swish) and
/// "hard_silu" (hard swish). Throws UnsupportedError for others.
ir::Activation activation_from_keras_name(const std::string& name);

/// Names of a layer's Keras weights in Keras' order ("kernel", "bias"; DepthwiseConv2D
/// "depthwise_kernel", "bias"; BatchNormalization "gamma", "beta", "moving_mean", "moving_variance";
/// LSTM "kernel", "recurrent_kernel", "bias").
std::vector<std::string> keras_weight_names(const ir::Layer& layer);

/// The Keras class a layer is written as: the class it was read from, else chosen from its kind (and,
/// for a relu6 Activation layer, the dialect: Keras 3 Activation("relu6"), Keras 2 ReLU(max_value=6)).
std::string keras_class_for(const ir::Layer& layer, Style style);

/// The config fields the IR models for `layer` written as Keras class `cls`, in Keras' get_config
/// form for `style` (units, filters, kernel_size, activation, ...). `input_shapes`: IR shapes of its
/// inputs. Throws UnsupportedError when Keras cannot express the layer (a fused leaky_relu in Keras 2).
Json modeled_config(const ir::Layer& layer, const std::string& cls, const std::vector<ir::Shape>& input_shapes,
                    Style style);

/// Keras' snake_case of a class name ("MaxPooling2D" -> "max_pooling2d", "ReLU" -> "re_lu"), which
/// `.keras` weight files use for layer paths.
std::string snake_case(const std::string& class_name);

}  // namespace snare::io::keras
