// write_keras: ir::Graph -> Keras model config + Keras-layout weights -> legacy HDF5 or .keras zip.
// The steps, in order: bring the graph into Keras' element order (channels-first Flatten), build
// the model config (the layer entries a read model came with, patched where snare changed them, or
// generated ones), convert the weights, then write the container through write_atomically.
#include <ATen/ATen.h>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <numeric>
#include <optional>

#include "common/atomic_file.h"
#include "common/error.h"
#include "io/facts.h"
#include "io/keras/archive.h"
#include "io/keras/config.h"
#include "io/keras/hdf5.h"
#include "io/keras/keras.h"
#include "io/keras/layout.h"
#include "io/keras/recurrent.h"
#include "ir/kind_traits.h"

namespace snare::io::keras {

using ir::LayerKind;

namespace {

/// SOURCE_DATE_EPOCH (reproducible-builds.org), when set to a plausible time: the time a .keras file says it was
/// saved, so that the same model gives the same bytes. HDF5 files carry no time (hdf5.cpp).
std::optional<std::time_t> source_date_epoch() {
  const char* text = std::getenv("SOURCE_DATE_EPOCH");
  if (!text || !*text) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long seconds = std::strtoll(text, &end, 10);
  // Zip stores years from 1980 to 2107.
  if (errno != 0 || *end != '\0' || seconds < 315532800 || seconds > 4354819199LL) return std::nullopt;
  return static_cast<std::time_t>(seconds);
}

/// The Keras version written into files snare generates from scratch: the dialect it mimics.
constexpr const char* kGeneratedKeras2Version = "2.15.0";
constexpr const char* kGeneratedKeras3Version = "3.10.0";
/// HDF5's object header limit that makes Keras split long name lists into chunks.
constexpr size_t kAttributeLimit = 64512;

int64_t product(const ir::Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Keras flattens and reshapes in channels_last element order. A channels-first Flatten feeding only
/// Dense layers becomes a channels_last one with the Dense columns permuted to match; where the two
/// orders coincide (one channel, or no spatial extent) only the flag changes.
void to_keras_element_order(ir::Graph& g) {
  for (ir::Layer& l : g.layers) {
    if ((l.kind != LayerKind::kFlatten && l.kind != LayerKind::kReshape) || l.channels_last) continue;
    const ir::Shape& in = g.layer(l.inputs.at(0)).output_shape;
    bool in_trivial = in.size() <= 1 || in[0] == 1 || product(in) == in[0];
    if (l.kind == LayerKind::kReshape) {
      bool out_trivial = l.output_shape.size() <= 1 || l.output_shape[0] == 1;
      if (!in_trivial || !out_trivial) {
        throw UnsupportedError(fmt::format("layer '{}' (reshape): a channels-first reshape of {} has no Keras form",
                                           l.name, ir::shape_string(in)));
      }
      l.channels_last = true;
      continue;
    }
    if (!in_trivial) {
      for (const std::string& c : g.consumers(l.name)) {
        ir::Layer& d = g.layer(c);
        if (d.kind != LayerKind::kDense) {
          throw UnsupportedError(fmt::format("layer '{}' (flatten): a channels-first flatten feeding '{}' ({}) has no "
                                             "Keras form",
                                             l.name, d.name, ir::kind_name(d.kind)));
        }
        d.weights["weight"] = layout::dense_columns_to_channels_last(d.weights.at("weight"), in);
        auto m = d.masks.find("weight");
        if (m != d.masks.end()) m->second = layout::dense_columns_to_channels_last(m->second, in);
      }
    }
    l.channels_last = true;
  }
}

/// The activation a config value names ("relu", or Keras 3's {"class_name": "function", "config": "relu"}).
std::optional<ir::Activation> activation_in(const Json& v) {
  std::string name;
  if (v.is_string()) name = v.get<std::string>();
  else if (v.is_object() && v.contains("config") && v["config"].is_string()) name = v["config"].get<std::string>();
  else return std::nullopt;
  try {
    return activation_from_keras_name(name);
  } catch (const UnsupportedError&) {
    return std::nullopt;
  }
}

Json keras_shape(const ir::Shape& shape) {
  Json s = Json::array({nullptr});
  for (int64_t d : layout::shape_to_keras(shape)) s.push_back(d);
  return s;
}

/// The name of the layer a Bidirectional wraps: as read, else Keras' default for its class ("lstm", "gru", ...).
std::string wrapped_name(const ir::Layer& l) {
  if (!l.origin_config.empty()) {
    Json origin = Json::parse(l.origin_config, nullptr, false);
    if (origin.is_object() && origin.contains("config") && origin["config"].is_object() &&
        origin["config"].contains("layer") && origin["config"]["layer"].is_object()) {
      const Json& inner = origin["config"]["layer"];
      if (inner.contains("config") && inner["config"].is_object() && inner["config"].contains("name") &&
          inner["config"]["name"].is_string()) {
        return inner["config"]["name"].get<std::string>();
      }
    }
  }
  return snake_case(recurrent_class(l.kind));
}

/// Fields every generated recurrent layer config carries besides the modeled ones (Keras' get_config).
void complete_recurrent_config(const ir::Layer& l, Json& c) {
  for (const char* flag : {"return_state", "go_backwards", "stateful", "unroll"}) c[flag] = false;
  if (l.kind == LayerKind::kLSTM) c["unit_forget_bias"] = true;
  c["dropout"] = 0.0;
  c["recurrent_dropout"] = 0.0;
}

/// Copies the modeled fields into a config read from a file, where they differ from what it says.
void merge_modeled(Json& c, const Json& modeled) {
  for (const auto& item : modeled.items()) {
    if (c.contains(item.key()) && (item.key() == "activation" || item.key() == "recurrent_activation") &&
        activation_in(c[item.key()]).has_value() && activation_in(c[item.key()]) == activation_in(item.value())) {
      continue;  // the same function under the spelling the file had ("swish" / "silu")
    }
    if ((item.key() == "layer" || item.key() == "backward_layer") && c.contains(item.key()) && c[item.key()].is_object() &&
        c[item.key()].contains("config")) {
      merge_modeled(c[item.key()]["config"], item.value().at("config"));  // a Bidirectional's wrapped layer
      continue;
    }
    if (!c.contains(item.key()) || c[item.key()] != item.value()) c[item.key()] = item.value();
  }
}

struct Writer {
  const ir::Graph& g;
  Style style;
  bool from_keras;
  bool sequential;
  std::string version;

  std::vector<ir::Shape> input_shapes(const ir::Layer& l) const {
    std::vector<ir::Shape> s;
    for (const std::string& i : l.inputs) s.push_back(g.layer(i).output_shape);
    return s;
  }

  Json build_input_shape(const ir::Layer& l) const {
    std::vector<ir::Shape> ins = input_shapes(l);
    if (ins.size() == 1) return keras_shape(ins[0]);
    Json all = Json::array();
    for (const ir::Shape& s : ins) all.push_back(keras_shape(s));
    return all;
  }

  Json keras_tensor(const std::string& source) const {
    return Json{{"class_name", "__keras_tensor__"},
                {"config", {{"shape", keras_shape(g.layer(source).output_shape)}, {"dtype", "float32"},
                            {"keras_history", Json::array({source, 0, 0})}}}};
  }

  Json inbound_nodes(const ir::Layer& l) const {
    if (l.kind == LayerKind::kInput) return Json::array();
    if (style == Style::kKeras2) {
      Json node = Json::array();
      for (const std::string& i : l.inputs) node.push_back(Json::array({i, 0, 0, Json::object()}));
      return Json::array({node});
    }
    Json args = Json::array();
    if (ir::is_merge(l.kind) || l.kind == LayerKind::kConcatenate) {
      Json list = Json::array();
      for (const std::string& i : l.inputs) list.push_back(keras_tensor(i));
      args.push_back(list);
    } else {
      for (const std::string& i : l.inputs) args.push_back(keras_tensor(i));
    }
    return Json::array({Json{{"args", args}, {"kwargs", Json::object()}}});
  }

  /// Keras 3 node arguments carry the shapes of their tensors; a reduction changes them.
  void update_tensor_shapes(Json& v) const {
    if (v.is_object()) {
      if (v.value("class_name", "") == "__keras_tensor__" && v.contains("config")) {
        Json& c = v["config"];
        std::string source = c.at("keras_history").at(0).get<std::string>();
        if (g.index_of(source) >= 0 && c.contains("shape")) c["shape"] = keras_shape(g.layer(source).output_shape);
        return;
      }
      for (auto& item : v.items()) update_tensor_shapes(item.value());
    } else if (v.is_array()) {
      for (Json& x : v) update_tensor_shapes(x);
    }
  }

  Json generated_entry(const ir::Layer& l, const std::string& cls, const Json& modeled) const {
    Json c = Json::object();
    if (l.kind == LayerKind::kInput) {
      c = modeled;
      c["dtype"] = "float32";
      c["sparse"] = false;
      c["ragged"] = false;
      c["name"] = l.name;
    } else {
      c["name"] = l.name;
      c["trainable"] = true;
      c["dtype"] = "float32";
      for (const auto& item : modeled.items()) c[item.key()] = item.value();
      if (l.kind == LayerKind::kBatchNorm) {
        c["axis"] = -1;
        c["center"] = l.use_bias;
        c["scale"] = l.use_scale;
      }
      if (cls == "Softmax") c["axis"] = -1;
      if (cls == "ReLU") {
        if (!c.contains("max_value")) c["max_value"] = nullptr;
        if (!c.contains("threshold")) c["threshold"] = 0.0;
      }
      if (l.kind == LayerKind::kDropout) {
        c["noise_shape"] = nullptr;
        c["seed"] = nullptr;
      }
      if (ir::is_recurrent(l.kind) && cls != "Bidirectional") complete_recurrent_config(l, c);
      if (cls == "Bidirectional") {
        Json inner{{"name", wrapped_name(l)}, {"trainable", true}, {"dtype", "float32"}};
        for (const auto& item : modeled.at("layer").at("config").items()) inner[item.key()] = item.value();
        complete_recurrent_config(l, inner);
        Json wrapped;
        if (style == Style::kKeras3) wrapped["module"] = "keras.layers";
        wrapped["class_name"] = recurrent_class(l.kind);
        wrapped["config"] = inner;
        if (style == Style::kKeras3) wrapped["registered_name"] = nullptr;
        c["layer"] = wrapped;
      }
    }
    Json entry;
    if (style == Style::kKeras3) entry["module"] = "keras.layers";
    entry["class_name"] = cls;
    entry["config"] = c;
    if (style == Style::kKeras3) {
      entry["registered_name"] = nullptr;
      if (l.kind != LayerKind::kInput) entry["build_config"] = Json{{"input_shape", build_input_shape(l)}};
    }
    if (!sequential) {
      entry["name"] = l.name;
      entry["inbound_nodes"] = inbound_nodes(l);
    }
    return entry;
  }

  /// The entry a read layer came with, changed only where the IR now differs from it.
  Json patched_entry(const ir::Layer& l, const Json& modeled) const {
    Json entry = Json::parse(l.origin_config);
    Json& c = entry["config"];
    merge_modeled(c, modeled);
    // A Bidirectional's explicit backward layer is the forward one run backwards (the reader checks): same changes.
    if (modeled.contains("layer") && c.contains("backward_layer") && c["backward_layer"].is_object() &&
        c["backward_layer"].contains("config")) {
      merge_modeled(c["backward_layer"]["config"], modeled["layer"].at("config"));
    }
    if (entry.contains("build_config") && entry["build_config"].is_object() &&
        entry["build_config"].contains("input_shape") && l.kind != LayerKind::kInput) {
      entry["build_config"]["input_shape"] = build_input_shape(l);
    }
    if (!sequential) {
      LayerEntry parsed;
      std::vector<std::string> old_inputs;
      const Json& nodes = entry.value("inbound_nodes", Json::array());
      if (!nodes.empty() && nodes[0].is_array()) {
        for (const Json& ref : nodes[0]) old_inputs.push_back(ref.at(0).get<std::string>());
      } else if (!nodes.empty()) {
        Json probe = Json{{"class_name", "Functional"},
                          {"config", {{"name", "probe"}, {"layers", Json::array({entry})},
                                      {"input_layers", Json::array({Json::array({l.name, 0, 0})})}}}};
        old_inputs = parse_model_config(probe, "").layers.at(0).inputs;
      }
      // An entry from a Sequential (or a nested Sequential read flat) has no inbound_nodes: it gets them here.
      if (old_inputs != l.inputs || !entry.contains("inbound_nodes")) entry["inbound_nodes"] = inbound_nodes(l);
      entry["name"] = l.name;
      update_tensor_shapes(entry["inbound_nodes"]);
    }
    return entry;
  }

  Json skeleton() const {
    const ir::Layer& out = g.output();
    (void)out;
    Json model;
    if (from_keras) {
      model = Json::parse(g.meta.at("keras.model_config"));
    } else if (style == Style::kKeras3) {
      model["module"] = "keras";
      model["class_name"] = sequential ? "Sequential" : "Functional";
      model["config"] = Json{{"name", g.name}, {"trainable", true}, {"dtype", "float32"}, {"layers", Json::array()}};
      model["registered_name"] = nullptr;
      model["build_config"] = Json{{"input_shape", keras_shape(g.input().output_shape)}};
    } else {
      model["class_name"] = sequential ? "Sequential" : "Functional";
      model["config"] = Json{{"name", g.name}, {"layers", Json::array()}};
    }
    if (!sequential) {
      Json& c = model["config"];
      Json ins = Json::array({Json::array({g.input().name, 0, 0})});
      Json outs = Json::array();
      std::vector<std::string> out_names = g.output_names();
      for (const std::string& o : out_names) outs.push_back(Json::array({o, 0, 0}));
      auto names = [](const Json& v) {
        std::vector<std::string> r;
        if (v.is_array() && !v.empty() && v[0].is_string()) return std::vector<std::string>{v[0].get<std::string>()};
        if (v.is_array()) {
          for (const Json& x : v) r.push_back(x.at(0).get<std::string>());
        }
        return r;
      };
      if (!c.contains("input_layers") || names(c["input_layers"]) != std::vector<std::string>{g.input().name}) {
        c["input_layers"] = ins;
      }
      if (!c.contains("output_layers") || names(c["output_layers"]) != out_names) c["output_layers"] = outs;
    }
    return model;
  }

  Json model_config() const {
    Json model = skeleton();
    Json& layers = model["config"]["layers"];
    layers = Json::array();
    auto implicit = g.meta.find("keras.implicit_input");
    for (const ir::Layer& l : g.layers) {
      if (from_keras && sequential && implicit != g.meta.end() && l.kind == LayerKind::kInput &&
          l.name == implicit->second) {
        continue;  // Keras 2 kept the input shape on the first layer, not in an InputLayer entry
      }
      std::string cls = keras_class_for(l, style);
      Json modeled = modeled_config(l, cls, input_shapes(l), style);
      layers.push_back(l.origin_config.empty() ? generated_entry(l, cls, modeled) : patched_entry(l, modeled));
    }
    return model;
  }

  /// A layer's weights in Keras layout and order, masked weights written as zeros.
  std::vector<std::pair<std::string, at::Tensor>> keras_weights(const ir::Layer& l) const {
    auto w = [&](const char* name) {
      at::Tensor t = l.weights.at(name);
      auto m = l.masks.find(name);
      // Only non-zero masked values change, so a -0.0 that masking produced is kept bit for bit.
      return m == l.masks.end() ? t : t.masked_fill(m->second.eq(0).logical_and(t.ne(0)), 0.0);
    };
    std::vector<std::string> names = keras_weight_names(l);
    if (!ir::traits(l.kind).weighted) return {};
    std::vector<at::Tensor> values;
    switch (l.kind) {
      case LayerKind::kDense:
        values.push_back(layout::dense_kernel_to_keras(w("weight")));
        if (l.use_bias) values.push_back(w("bias"));
        break;
      case LayerKind::kConv1D:
      case LayerKind::kConv2D:
        values.push_back(layout::conv_kernel_to_keras(w("weight")));
        if (l.use_bias) values.push_back(w("bias"));
        break;
      case LayerKind::kDepthwiseConv2D:
        values.push_back(layout::depthwise_kernel_to_keras(w("weight"), l.multiplier));
        if (l.use_bias) values.push_back(w("bias"));
        break;
      case LayerKind::kSeparableConv1D:
      case LayerKind::kSeparableConv2D:
        values.push_back(layout::depthwise_kernel_to_keras(w("depthwise"), l.multiplier));
        values.push_back(layout::conv_kernel_to_keras(w("weight")));
        if (l.use_bias) values.push_back(w("bias"));
        break;
      case LayerKind::kBatchNorm:
        if (l.use_scale) values.push_back(w("weight"));
        if (l.use_bias) values.push_back(w("bias"));
        values.push_back(w("running_mean"));
        values.push_back(w("running_var"));
        break;
      case LayerKind::kLSTM:
      case LayerKind::kGRU:
      case LayerKind::kSimpleRNN: values = recurrent_to_keras(l, [&](const std::string& n) { return w(n.c_str()); }); break;
      default: throw InternalError(fmt::format("layer '{}': no Keras weight layout for kind {}", l.name, ir::kind_name(l.kind)));
    }
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], values.at(i));
    return out;
  }

  /// Keras' own naming of a stored weight: "dense/kernel:0" (Keras 2) or "sequential/dense/kernel"
  /// (Keras 3; LSTM weights sit in its cell: "sequential/lstm/lstm_cell/kernel"; a Bidirectional's in its
  /// directions' layers: "bidirectional/forward_gru/gru_cell/kernel:0").
  std::string weight_name(const ir::Layer& l, const std::string& keras_name) const {
    std::string prefix = style == Style::kKeras2 ? l.name : g.name + "/" + l.name;
    std::string suffix = style == Style::kKeras2 ? ":0" : "";
    if (ir::is_recurrent(l.kind) && l.bidirectional) {
      size_t slash = keras_name.find('/');  // "forward_layer/kernel"
      std::string direction = keras_name.substr(0, keras_name.find('_'));
      return fmt::format("{}/{}_{}/{}/{}{}", prefix, direction, wrapped_name(l), recurrent_cell(l.kind),
                         keras_name.substr(slash + 1), suffix);
    }
    if (l.kind == LayerKind::kGRU || l.kind == LayerKind::kSimpleRNN) {
      return fmt::format("{}/{}/{}{}", prefix, recurrent_cell(l.kind), keras_name, suffix);
    }
    if (style == Style::kKeras2) return fmt::format("{}/{}:0", l.name, keras_name);
    // Keras 3 calls the depthwise kernel variable "kernel".
    if (l.kind == LayerKind::kDepthwiseConv2D && keras_name == "depthwise_kernel") {
      return fmt::format("{}/{}/kernel", g.name, l.name);
    }
    if (l.kind == LayerKind::kLSTM) return fmt::format("{}/{}/{}/{}", g.name, l.name, recurrent_cell(l.kind), keras_name);
    return fmt::format("{}/{}/{}", g.name, l.name, keras_name);
  }

  void write_names(const h5::Group& group, const std::string& name, const std::vector<std::string>& values) const {
    if (values.empty()) {
      group.set_attr_empty(name);
      return;
    }
    h5::StringStorage storage = style == Style::kKeras2 ? h5::StringStorage::kFixedAscii : h5::StringStorage::kVariableAscii;
    size_t width = 16;  // a variable-length string costs a heap reference in the header
    if (storage == h5::StringStorage::kFixedAscii) {
      for (const std::string& v : values) width = std::max(width, v.size());
    }
    size_t chunks = (values.size() * width + kAttributeLimit - 1) / kAttributeLimit;
    if (chunks <= 1) {
      group.set_attr_strings(name, values, storage);
      return;
    }
    size_t per = (values.size() + chunks - 1) / chunks;
    for (size_t c = 0; c * per < values.size(); ++c) {
      std::vector<std::string> part(values.begin() + static_cast<std::ptrdiff_t>(c * per),
                                    values.begin() + static_cast<std::ptrdiff_t>(std::min(values.size(), (c + 1) * per)));
      group.set_attr_strings(name + std::to_string(c), part, storage);
    }
  }

  void write_snare_attributes(const h5::Group& root) const {
    Json meta = Json::object();
    for (const auto& [key, value] : g.meta) {
      if (key.rfind("snare.", 0) == 0) meta[key] = value;  // from a newer snare: kept as it came
    }
    for (const auto& [key, value] : fact_entries(g)) meta[key] = value;
    if (!meta.empty()) root.set_attr_string("snare_meta", meta.dump(), h5::StringStorage::kVariableUtf8);
    Json masks = Json::object();
    for (const ir::Layer& l : g.layers) {
      for (const auto& [name, mask] : l.masks) masks[l.name].push_back(name);
    }
    if (!masks.empty()) root.set_attr_string("snare_masks", masks.dump(), h5::StringStorage::kVariableUtf8);
  }

  std::string backend() const {
    auto it = g.meta.find("keras.backend");
    return it != g.meta.end() && !it->second.empty() ? it->second : "tensorflow";
  }

  /// The legacy HDF5 file, built in memory: a write that fails on disk (full disk, quota) is then a plain write
  /// error, while HDF5's own file driver left a half-closed file behind that crashed HDF5 at exit.
  std::string h5_image(const std::string& path, const Json& model) const {
    h5::File f = h5::File::create_in_memory(path);
    h5::Group root = f.root();
    h5::StringStorage text = style == Style::kKeras2 ? h5::StringStorage::kVariableAscii : h5::StringStorage::kVariableUtf8;
    root.set_attr_string("backend", backend(), text);
    root.set_attr_string("keras_version", version, text);
    root.set_attr_string("model_config", model.dump(), text);
    auto training = g.meta.find("keras.training_config");
    if (training != g.meta.end()) root.set_attr_string("training_config", training->second, text);
    write_snare_attributes(root);

    h5::Group mw = root.create_group("model_weights");
    mw.set_attr_string("backend", backend(), text);
    mw.set_attr_string("keras_version", version, text);
    std::vector<std::string> layer_names;
    for (const ir::Layer& l : g.layers) {
      if (sequential && l.kind == LayerKind::kInput) continue;  // Sequential.layers leaves the Input out
      layer_names.push_back(l.name);
      h5::Group lg = mw.create_group(l.name);
      std::vector<std::string> weight_names;
      for (const auto& [keras_name, value] : keras_weights(l)) {
        std::string name = weight_name(l, keras_name);
        lg.write_dataset(name, value);
        weight_names.push_back(name);
      }
      write_names(lg, "weight_names", weight_names);
    }
    write_names(mw, "layer_names", layer_names);
    if (style == Style::kKeras3) mw.create_group("top_level_model_weights").set_attr_empty("weight_names");
    return f.image();
  }

  std::string weights_image(const std::string& label) const {
    h5::File f = h5::File::create_in_memory(label);
    h5::Group root = f.root();
    std::map<std::string, int> used;
    for (const ir::Layer& l : g.layers) {
      if (l.kind == LayerKind::kInput) continue;
      std::string base = snake_case(keras_class_for(l, Style::kKeras3));
      int n = used.count(base) ? ++used[base] : (used[base] = 0);
      std::string path = "layers/" + (n == 0 ? base : fmt::format("{}_{}", base, n));
      h5::Group vars = root.create_group(path + "/vars");
      vars.set_attr_string("name", l.name, h5::StringStorage::kVariableUtf8);
      auto weights = keras_weights(l);
      // Recurrent layers keep their variables in their cell, a Bidirectional's in its two direction layers.
      std::vector<std::string> cells;
      if (ir::is_recurrent(l.kind) && l.bidirectional) {
        cells = {path + "/forward_layer", path + "/backward_layer"};
      } else if (ir::is_recurrent(l.kind)) {
        cells = {path};
      }
      if (cells.empty()) {
        for (size_t i = 0; i < weights.size(); ++i) vars.write_dataset(std::to_string(i), weights[i].second);
      }
      const size_t per_cell = cells.empty() ? 0 : weights.size() / cells.size();
      for (size_t k = 0; k < cells.size(); ++k) {
        if (cells[k] != path) root.create_group(cells[k] + "/vars");
        h5::Group cell = root.create_group(cells[k] + "/cell/vars");
        cell.set_attr_string("name", recurrent_cell(l.kind), h5::StringStorage::kVariableUtf8);
        for (size_t i = 0; i < per_cell; ++i) cell.write_dataset(std::to_string(i), weights[k * per_cell + i].second);
      }
    }
    root.create_group("vars").set_attr_string("name", g.name, h5::StringStorage::kVariableUtf8);
    write_snare_attributes(root);
    return f.image();
  }

  void write_zip(const std::string& tmp, const std::string& path, const Json& model) const {
    auto metadata = g.meta.find("keras.metadata");
    std::string meta_text;
    const std::optional<std::time_t> fixed = source_date_epoch();
    const std::time_t saved = fixed ? *fixed : std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    if (metadata != g.meta.end()) {
      meta_text = metadata->second;
    } else {
      const std::tm when = fixed ? fmt::gmtime(saved) : fmt::localtime(saved);
      meta_text = Json{{"keras_version", version}, {"date_saved", fmt::format("{:%Y-%m-%d@%H:%M:%S}", when)}}.dump();
    }
    std::string weights = weights_image(path + ":model.weights.h5");
    archive::write_entries(tmp, {{"metadata.json", meta_text}, {"config.json", model.dump()}, {"model.weights.h5", weights}},
                           saved);
  }
};

bool is_chain(const ir::Graph& g) {
  for (size_t i = 1; i < g.layers.size(); ++i) {
    if (g.layers[i].inputs != std::vector<std::string>{g.layers[i - 1].name}) return false;
  }
  return g.output_names() == std::vector<std::string>{g.layers.back().name};
}

}  // namespace

void write_keras(const ir::Graph& graph, const std::string& path) {
  bool zip = ends_with(path, ".keras");
  if (!zip && !ends_with(path, ".h5") && !ends_with(path, ".hdf5")) {
    throw OutputError(fmt::format("{}: Keras files end in .h5, .hdf5 or .keras", path));
  }
  ir::verify(graph);
  ir::Graph g = graph;
  g.infer_shapes();
  to_keras_element_order(g);

  bool from_keras = g.meta.count("keras.model_config") > 0;
  std::string version;
  if (from_keras) {
    auto v = g.meta.find("keras.keras_version");
    if (v != g.meta.end()) version = v->second;
  }
  if (version.empty()) version = zip ? kGeneratedKeras3Version : kGeneratedKeras2Version;
  bool sequential = from_keras ? Json::parse(g.meta.at("keras.model_config")).value("class_name", "") == "Sequential"
                               : is_chain(g);
  if (sequential && !is_chain(g)) {
    throw UnsupportedError(fmt::format("{}: model '{}' was read as a Sequential model but is no longer a chain", path,
                                       g.name));
  }
  Writer w{g, style_of_version(version), from_keras, sequential, version};
  Json model = w.model_config();
  write_atomically(path, [&](const std::string& tmp) {
    if (zip) {
      w.write_zip(tmp, path, model);
    } else {
      write_bytes(tmp, w.h5_image(path, model));
    }
  });
}

}  // namespace snare::io::keras
