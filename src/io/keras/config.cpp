#include "io/keras/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <map>
#include <regex>
#include <set>

#include "common/error.h"
#include "io/keras/layout.h"
#include "io/keras/recurrent.h"
#include "ir/kind_traits.h"

namespace snare::io::keras {

using ir::LayerKind;

namespace {

std::string where(const LayerEntry& e) { return fmt::format("layer '{}' ({})", e.name, e.class_name); }

const Json& config_of(const LayerEntry& e) {
  static const Json kEmpty = Json::object();
  auto it = e.entry.find("config");
  return it != e.entry.end() && it->is_object() ? *it : kEmpty;
}

bool has(const Json& c, const char* key) { return c.contains(key) && !c[key].is_null(); }

/// An int or a list of ints (Keras writes both: pool_size 2 or [2, 2]) as `n` values.
std::vector<int64_t> ints(const Json& c, const char* key, size_t n, const std::vector<int64_t>& fallback) {
  if (!has(c, key)) return fallback;
  const Json& v = c[key];
  if (v.is_number_integer()) return std::vector<int64_t>(n, v.get<int64_t>());
  std::vector<int64_t> out;
  for (const Json& x : v) out.push_back(x.get<int64_t>());
  if (out.size() != n) throw ModelError(fmt::format("'{}' has {} values, expected {}", key, out.size(), n));
  return out;
}

/// ZeroPadding2D's padding / Cropping2D's cropping: an int, (symmetric_height, symmetric_width) or
/// ((top, bottom), (left, right)), as {top, bottom, left, right}.
std::vector<int64_t> pads_2d(const Json& p) {
  if (p.is_number_integer()) return std::vector<int64_t>(4, p.get<int64_t>());
  if (p.size() == 2 && p[0].is_number_integer()) {
    int64_t h = p[0].get<int64_t>(), w = p[1].get<int64_t>();
    return {h, h, w, w};
  }
  return {p.at(0).at(0).get<int64_t>(), p.at(0).at(1).get<int64_t>(), p.at(1).at(0).get<int64_t>(),
          p.at(1).at(1).get<int64_t>()};
}

std::optional<ir::Activation> activation_of(const Json& v) {
  if (v.is_null()) return ir::Activation::kLinear;
  std::string name;
  if (v.is_string()) {
    name = v.get<std::string>();
  } else if (v.is_object() && v.contains("config") && v["config"].is_string()) {
    name = v["config"].get<std::string>();  // Keras 3 may wrap built-in functions
  } else {
    return std::nullopt;
  }
  try {
    return activation_from_keras_name(name);
  } catch (const UnsupportedError&) {
    return std::nullopt;
  }
}

std::string activation_reason(const Json& c, const char* key = "activation") {
  if (!c.contains(key)) return "";
  return activation_of(c[key]) ? "" : fmt::format("{} {} is not supported", key, c[key].dump());
}

/// Keras' name of an activation in the dialect being written: Keras 3 serialises swish as "silu" and
/// hard swish as "hard_silu" (and reads the old spellings as aliases); Keras 2 knows "swish".
std::string keras_activation_name(ir::Activation a, Style style) {
  if (style == Style::kKeras3 && a == ir::Activation::kSwish) return "silu";
  if (style == Style::kKeras3 && a == ir::Activation::kHardSwish) return "hard_silu";
  return ir::activation_name(a);
}

std::string data_format_reason(const Json& c) {
  if (has(c, "data_format") && c["data_format"] != "channels_last") return "data_format channels_first is not supported";
  return "";
}

std::string padding_reason(const Json& c) {
  if (has(c, "padding") && c["padding"] != "valid" && c["padding"] != "same") {
    return fmt::format("padding {} is not supported", c["padding"].dump());
  }
  return "";
}

/// A positive integer config value (groups, depth_multiplier): "" when absent or fine.
std::string positive_int_reason(const Json& c, const char* key) {
  if (!has(c, key)) return "";
  if (!c[key].is_number_integer() || c[key].get<int64_t>() < 1) {
    return fmt::format("{} {} is not a positive integer", key, c[key].dump());
  }
  return "";
}

/// A number as Keras wrote it (null -> nullopt); non-numbers are reported by the caller.
std::optional<double> number(const Json& c, const char* key) {
  if (!has(c, key) || !c[key].is_number()) return std::nullopt;
  return c[key].get<double>();
}

/// ReLU(max_value, negative_slope, threshold) is relu (all default), relu6 (max_value 6) or leaky_relu
/// (negative_slope > 0 alone); anything else is not an IR activation.
std::string relu_reason(const Json& c) {
  for (const char* key : {"max_value", "negative_slope", "threshold"}) {
    if (has(c, key) && !c[key].is_number()) return fmt::format("{} {} is not a number", key, c[key].dump());
  }
  std::optional<double> max_value = number(c, "max_value");
  double slope = number(c, "negative_slope").value_or(0.0);
  double threshold = number(c, "threshold").value_or(0.0);
  bool fine = threshold == 0.0 && ((slope == 0.0 && (!max_value || *max_value == 6.0)) || (slope > 0.0 && !max_value));
  if (fine) return "";
  return fmt::format("ReLU with max_value={}, negative_slope={}, threshold={} is not supported (supported: max_value "
                     "None or 6 with negative_slope 0 and threshold 0, or negative_slope > 0 with max_value None and "
                     "threshold 0)",
                     max_value ? fmt::format("{}", *max_value) : "None", slope, threshold);
}

std::string first_reason(std::initializer_list<std::string> reasons) {
  for (const std::string& r : reasons) {
    if (!r.empty()) return r;
  }
  return "";
}

size_t spatial_dims(LayerKind k) { return static_cast<size_t>(std::max(1, ir::traits(k).spatial_rank)); }

/// Sets l.activation (and l.alpha for the fused forms whose slope Keras fixes).
void set_fused_activation(ir::Layer& l, const Json& c) {
  l.activation = c.contains("activation") ? activation_of(c["activation"]).value_or(ir::Activation::kLinear)
                                          : ir::Activation::kLinear;
  if (l.activation == ir::Activation::kLeakyRelu) l.alpha = 0.2;  // keras.activations.leaky_relu default
  if (l.activation == ir::Activation::kElu) l.alpha = 1.0;
}

void collect_history(const Json& v, std::vector<std::string>& names) {
  if (v.is_object()) {
    if (v.value("class_name", "") == "__keras_tensor__") {
      names.push_back(v.at("config").at("keras_history").at(0).get<std::string>());
      return;
    }
    for (const auto& item : v.items()) collect_history(item.value(), names);
  } else if (v.is_array()) {
    for (const Json& x : v) collect_history(x, names);
  }
}

/// Layer names of an input_layers/output_layers value: [["a",0,0], ...] or a single ["a",0,0].
std::vector<std::string> endpoint_names(const Json& v) {
  std::vector<std::string> out;
  if (!v.is_array() || v.empty()) return out;
  if (v[0].is_string()) return {v[0].get<std::string>()};
  for (const Json& x : v) out.push_back(x.at(0).get<std::string>());
  return out;
}

Json keras_shape(const ir::Shape& shape) {
  Json s = Json::array({nullptr});
  for (int64_t d : layout::shape_to_keras(shape)) s.push_back(d);
  return s;
}

/// Keras 3's hard_sigmoid is relu6(x + 3) / 6, not the IR's (Keras 2's) clip(0.2 x + 0.5, 0, 1).
void expect_expressible(const ir::Layer& l, ir::Activation a, Style style) {
  if (style == Style::kKeras3 && a == ir::Activation::kHardSigmoid) {
    throw UnsupportedError(fmt::format("layer '{}': Keras 3's hard_sigmoid is relu6(x+3)/6, not the IR's (Keras 2's) "
                                       "clip(0.2x+0.5, 0, 1); write a Keras 2 (.h5) file",
                                       l.name));
  }
}

Json activation_json(const ir::Layer& l, Style style) {
  expect_expressible(l, l.activation, style);
  if (l.activation == ir::Activation::kLeakyRelu && !(style == Style::kKeras3 && l.alpha == 0.2)) {
    throw UnsupportedError(fmt::format("layer '{}': Keras cannot express a fused leaky_relu with slope {}", l.name,
                                       l.alpha));
  }
  if (l.activation == ir::Activation::kElu && l.alpha != 0.0 && l.alpha != 1.0) {
    throw UnsupportedError(fmt::format("layer '{}': Keras cannot express a fused elu with alpha {}", l.name, l.alpha));
  }
  return keras_activation_name(l.activation, style);
}

void expect_activation(const ir::Layer& l, const std::string& cls, std::initializer_list<ir::Activation> allowed) {
  for (ir::Activation a : allowed) {
    if (l.activation == a) return;
  }
  throw UnsupportedError(fmt::format("layer '{}' ({}) cannot compute activation {}", l.name, cls,
                                     ir::activation_name(l.activation)));
}

/// True when the layer was read from a config that has `key` (fields older Keras versions lack, such as
/// Conv groups before tf.keras 2.3, are written only where they were or where they matter).
bool origin_has(const ir::Layer& l, const char* key) {
  if (l.origin_config.empty()) return false;
  Json origin = Json::parse(l.origin_config, nullptr, false);
  return origin.is_object() && origin.contains("config") && origin["config"].is_object() && origin["config"].contains(key);
}

}  // namespace

ir::Activation activation_from_keras_name(const std::string& name) {
  if (name == "hard_silu") return ir::Activation::kHardSwish;  // Keras 3's serialised name
  return ir::activation_from_name(name);
}

Style style_of_version(const std::string& keras_version) {
  return !keras_version.empty() && keras_version[0] == '3' ? Style::kKeras3 : Style::kKeras2;
}

const std::vector<KerasClass>& supported_classes() {
  static const std::vector<KerasClass> kClasses = {
      {"Activation", LayerKind::kActivation},
      {"Add", LayerKind::kAdd},
      {"Average", LayerKind::kAverage},
      {"AveragePooling1D", LayerKind::kAvgPool1D},
      {"AveragePooling2D", LayerKind::kAvgPool2D},
      {"BatchNormalization", LayerKind::kBatchNorm},
      {"Concatenate", LayerKind::kConcatenate},
      {"Conv1D", LayerKind::kConv1D},
      {"Conv2D", LayerKind::kConv2D},
      {"Cropping1D", LayerKind::kCropping1D},
      {"Cropping2D", LayerKind::kCropping2D},
      {"Dense", LayerKind::kDense},
      {"DepthwiseConv2D", LayerKind::kDepthwiseConv2D},
      {"Dropout", LayerKind::kDropout},
      {"ELU", LayerKind::kActivation},
      {"Flatten", LayerKind::kFlatten},
      {"GRU", LayerKind::kGRU},
      {"GlobalAveragePooling1D", LayerKind::kGlobalAvgPool1D},
      {"GlobalAveragePooling2D", LayerKind::kGlobalAvgPool2D},
      {"GlobalMaxPooling1D", LayerKind::kGlobalMaxPool1D},
      {"GlobalMaxPooling2D", LayerKind::kGlobalMaxPool2D},
      {"InputLayer", LayerKind::kInput},
      {"LSTM", LayerKind::kLSTM},
      {"LeakyReLU", LayerKind::kActivation},
      {"MaxPooling1D", LayerKind::kMaxPool1D},
      {"MaxPooling2D", LayerKind::kMaxPool2D},
      {"Maximum", LayerKind::kMaximum},
      {"Minimum", LayerKind::kMinimum},
      {"Multiply", LayerKind::kMultiply},
      {"Permute", LayerKind::kPermute},
      {"ReLU", LayerKind::kActivation},
      {"Reshape", LayerKind::kReshape},
      {"SeparableConv1D", LayerKind::kSeparableConv1D},
      {"SeparableConv2D", LayerKind::kSeparableConv2D},
      {"SimpleRNN", LayerKind::kSimpleRNN},
      {"Softmax", LayerKind::kActivation},
      {"Subtract", LayerKind::kSubtract},
      {"UpSampling1D", LayerKind::kUpSampling1D},
      {"UpSampling2D", LayerKind::kUpSampling2D},
      {"ZeroPadding1D", LayerKind::kZeroPadding1D},
      {"ZeroPadding2D", LayerKind::kZeroPadding2D},
  };
  return kClasses;
}

const KerasClass* find_class(const std::string& class_name) {
  const auto& table = supported_classes();
  auto it = std::lower_bound(table.begin(), table.end(), class_name,
                             [](const KerasClass& k, const std::string& n) { return std::strcmp(k.name, n.c_str()) < 0; });
  return it != table.end() && class_name == it->name ? &*it : nullptr;
}

namespace {

bool is_model_class(const std::string& class_name) {
  return class_name == "Sequential" || class_name == "Functional" || class_name == "Model";
}

/// The batch input shape a nested model entry declares (its InputLayer's, or its first layer's), or null.
Json nested_input_shape(const Json& entry) {
  if (!entry.contains("config")) return Json();
  const Json& cfg = entry["config"];
  const Json& layers = cfg.is_array() ? cfg : cfg.is_object() && cfg.contains("layers") ? cfg["layers"] : Json();
  if (cfg.is_object() && has(cfg, "build_input_shape")) return cfg["build_input_shape"];
  if (!layers.is_array() || layers.empty()) return Json();
  const Json& first = layers[0];
  if (is_model_class(first.value("class_name", ""))) return nested_input_shape(first);
  if (!first.contains("config") || !first["config"].is_object()) return Json();
  const Json& c = first["config"];
  return has(c, "batch_input_shape") ? c["batch_input_shape"] : has(c, "batch_shape") ? c["batch_shape"] : Json();
}

ModelConfig parse_model(const Json& model, const std::string& file, bool nested);

/// Replaces every nested model entry of `mc` by its layers (see parse_model_config).
void flatten_nested(ModelConfig& mc, const std::string& file) {
  std::set<std::string> taken;
  for (const LayerEntry& e : mc.layers) {
    if (!is_model_class(e.class_name)) taken.insert(e.name);
  }
  std::map<std::string, std::string> redirect;  // nested model -> the flat layer that holds its output
  std::vector<LayerEntry> flat;
  bool any = false;
  for (LayerEntry& e : mc.layers) {
    for (std::string& i : e.inputs) {
      auto r = redirect.find(i);
      if (r != redirect.end()) i = r->second;
    }
    if (!is_model_class(e.class_name) || e.calls > 1) {  // a shared nested model stays, to be reported
      flat.push_back(std::move(e));
      continue;
    }
    ModelConfig inner = parse_model(e.entry, file, true);
    if (e.inputs.size() != 1) {
      throw UnsupportedError(fmt::format("{}: nested model '{}' reads {} inputs; snare supports exactly one", file,
                                         e.name, e.inputs.size()));
    }
    if (inner.outputs.size() != 1) {
      throw UnsupportedError(fmt::format("{}: nested model '{}' has {} outputs; snare supports exactly one", file,
                                         e.name, inner.outputs.size()));
    }
    const std::string inner_input = inner.layers.at(0).name;
    std::map<std::string, std::string> rename{{inner_input, e.inputs[0]}};
    for (size_t k = 1; k < inner.layers.size(); ++k) {
      const std::string& old_name = inner.layers[k].name;
      std::string n = old_name;
      for (int suffix = 1; taken.count(n); ++suffix) {
        n = suffix == 1 ? e.name + "/" + old_name : fmt::format("{}/{}_{}", e.name, old_name, suffix);
      }
      taken.insert(n);
      rename[old_name] = n;
    }
    for (size_t k = 1; k < inner.layers.size(); ++k) {
      LayerEntry x = std::move(inner.layers[k]);
      if (x.keras_name.empty()) x.keras_name = x.name;
      x.weights_group = e.name;  // the outermost nested model's group holds the weights
      for (std::string& i : x.inputs) {
        auto r = rename.find(i);
        if (r != rename.end()) i = r->second;
      }
      const std::string& n = rename.at(x.name);
      if (n != x.name) {
        x.name = n;
        if (x.entry.contains("config") && x.entry["config"].is_object()) x.entry["config"]["name"] = n;
        if (x.entry.contains("name")) x.entry["name"] = n;
      }
      flat.push_back(std::move(x));
    }
    redirect[e.name] = rename.count(inner.outputs[0]) ? rename.at(inner.outputs[0]) : inner.outputs[0];
    any = true;
  }
  mc.layers = std::move(flat);
  for (std::string& o : mc.outputs) {
    auto r = redirect.find(o);
    if (r != redirect.end()) o = r->second;
  }
  if (any && mc.model_class == "Sequential") {
    // Written back as the flat Functional model it now is (an inner Functional need not be a chain).
    mc.model_class = "Functional";
    mc.implicit_input.clear();
    mc.skeleton["class_name"] = "Functional";
    if (mc.skeleton.contains("module")) mc.skeleton["module"] = "keras.src.models.functional";
    if (mc.skeleton.contains("registered_name")) mc.skeleton["registered_name"] = "Functional";
    mc.skeleton["config"].erase("build_input_shape");
  }
}

ModelConfig parse_model(const Json& model, const std::string& file, bool nested) {
  try {
    ModelConfig mc;
    if (!model.is_object() || !model.contains("class_name")) {
      throw ModelError(fmt::format("{}: the model config has no class_name", file));
    }
    mc.model_class = model["class_name"].get<std::string>();
    const Json& cfg = model.at("config");
    const Json& layers = cfg.is_array() ? cfg : cfg.at("layers");
    mc.name = cfg.is_object() ? cfg.value("name", std::string("model")) : "sequential";
    mc.skeleton = model;
    if (cfg.is_array()) mc.skeleton["config"] = Json{{"name", mc.name}, {"layers", Json::array()}};
    else mc.skeleton["config"]["layers"] = Json::array();

    if (mc.model_class == "Sequential") {
      for (const Json& entry : layers) {
        LayerEntry e;
        e.entry = entry;
        e.class_name = entry.at("class_name").get<std::string>();
        e.name = entry.at("config").at("name").get<std::string>();
        if (mc.layers.empty() && e.class_name != "InputLayer") {
          const Json& c = entry.at("config");
          Json shape = has(c, "batch_input_shape") ? c["batch_input_shape"]
                       : has(c, "batch_shape")     ? c["batch_shape"]
                       : cfg.is_object() && has(cfg, "build_input_shape") ? cfg["build_input_shape"]
                                                                          : Json();
          if (shape.is_null() && is_model_class(e.class_name)) shape = nested_input_shape(entry);
          if (shape.is_null() && !nested) {
            throw ModelError(fmt::format("{}: Sequential model '{}' has no input shape (it was saved unbuilt)", file,
                                         mc.name));
          }
          LayerEntry in;
          in.class_name = "InputLayer";
          in.name = e.name + "_input";  // the name Keras gives the InputLayer it creates
          in.entry = Json{{"class_name", "InputLayer"}, {"config", {{"batch_input_shape", shape}, {"name", in.name}}}};
          mc.implicit_input = in.name;
          mc.layers.push_back(in);
        }
        if (!mc.layers.empty()) e.inputs = {mc.layers.back().name};
        mc.layers.push_back(e);
      }
      if (!mc.layers.empty()) mc.outputs = {mc.layers.back().name};
    } else if (mc.model_class == "Functional" || mc.model_class == "Model") {
      for (const Json& entry : layers) {
        LayerEntry e;
        e.entry = entry;
        e.class_name = entry.at("class_name").get<std::string>();
        e.name = entry.contains("name") ? entry["name"].get<std::string>()
                                        : entry.at("config").at("name").get<std::string>();
        const Json& nodes = entry.contains("inbound_nodes") ? entry["inbound_nodes"] : Json::array();
        e.calls = std::max<size_t>(nodes.size(), 1);
        if (!nodes.empty()) {
          const Json& node = nodes[0];
          if (node.is_array()) {
            for (const Json& ref : node) e.inputs.push_back(ref.at(0).get<std::string>());  // Keras 2
          } else {
            collect_history(node.at("args"), e.inputs);  // Keras 3
          }
        }
        mc.layers.push_back(e);
      }
      std::vector<std::string> ins = endpoint_names(cfg.value("input_layers", Json::array()));
      if (ins.size() != 1) {
        throw UnsupportedError(fmt::format("{}: model '{}' has {} inputs; snare supports exactly one", file, mc.name,
                                           ins.size()));
      }
      auto input = std::find_if(mc.layers.begin(), mc.layers.end(), [&](const LayerEntry& e) { return e.name == ins[0]; });
      if (input == mc.layers.end()) throw ModelError(fmt::format("{}: input layer '{}' is not in the model", file, ins[0]));
      std::rotate(mc.layers.begin(), input, input + 1);  // the IR wants the Input first
      mc.outputs = endpoint_names(cfg.value("output_layers", Json::array()));
    } else {
      throw UnsupportedError(fmt::format("{}: model class '{}' is not supported (Sequential, Functional)", file,
                                         mc.model_class));
    }
    if (mc.layers.empty()) throw ModelError(fmt::format("{}: model '{}' has no layers", file, mc.name));
    flatten_nested(mc, file);
    return mc;
  } catch (const Json::exception& err) {
    throw ModelError(fmt::format("{}: malformed model config: {}", file, err.what()));
  }
}

}  // namespace

ModelConfig parse_model_config(const Json& model, const std::string& file) { return parse_model(model, file, false); }

std::string unsupported_reason(const LayerEntry& e) {
  if (e.class_name == "Bidirectional") {
    if (e.calls > 1) return fmt::format("shared layer (called {} times)", e.calls);
    return bidirectional_reason(e);
  }
  const KerasClass* k = find_class(e.class_name);
  if (!k) {
    if (is_model_class(e.class_name)) {
      return fmt::format("nested model called {} times (shared models are not supported)", e.calls);
    }
    return "unknown layer class";
  }
  if (e.calls > 1) return fmt::format("shared layer (called {} times)", e.calls);
  const Json& c = config_of(e);
  switch (k->kind) {
    case LayerKind::kInput:
    case LayerKind::kReshape:
    case LayerKind::kDropout:
    case LayerKind::kAdd:
    case LayerKind::kSubtract:
    case LayerKind::kMultiply:
    case LayerKind::kAverage:
    case LayerKind::kMaximum:
    case LayerKind::kMinimum:
    case LayerKind::kConcatenate: return "";
    case LayerKind::kDense: return activation_reason(c);
    case LayerKind::kConv1D:
    case LayerKind::kConv2D:
      return first_reason({positive_int_reason(c, "groups"), data_format_reason(c), padding_reason(c), activation_reason(c)});
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D:
      return first_reason({positive_int_reason(c, "depth_multiplier"), data_format_reason(c), padding_reason(c),
                           activation_reason(c)});
    case LayerKind::kDepthwiseConv2D:
      // Keras 2 configs carry the Conv2D base class' groups (always 1); the IR layer has no groups.
      if (has(c, "groups") && c["groups"] != 1) return fmt::format("groups {} is not supported", c["groups"].dump());
      return first_reason({positive_int_reason(c, "depth_multiplier"), data_format_reason(c), padding_reason(c),
                           activation_reason(c)});
    case LayerKind::kMaxPool1D:
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool1D:
    case LayerKind::kAvgPool2D: return first_reason({data_format_reason(c), padding_reason(c)});
    case LayerKind::kGlobalAvgPool1D:
    case LayerKind::kGlobalAvgPool2D:
    case LayerKind::kGlobalMaxPool1D:
    case LayerKind::kGlobalMaxPool2D:
    case LayerKind::kFlatten:
    case LayerKind::kZeroPadding1D:
    case LayerKind::kZeroPadding2D:
    case LayerKind::kCropping1D:
    case LayerKind::kCropping2D:
    case LayerKind::kUpSampling1D: return data_format_reason(c);
    case LayerKind::kUpSampling2D:
      if (c.value("interpolation", std::string("nearest")) != "nearest") {
        return fmt::format("interpolation {} is not supported (only nearest)", c["interpolation"].dump());
      }
      return data_format_reason(c);
    case LayerKind::kBatchNorm:
      if (c.contains("axis") && c["axis"].is_array() && c["axis"].size() != 1) return "several axes are not supported";
      return "";
    case LayerKind::kActivation:
      if (e.class_name == "Activation") return activation_reason(c);
      if (e.class_name == "ReLU") return relu_reason(c);
      if (e.class_name == "Softmax" && has(c, "axis") && c["axis"] != -1 && c["axis"] != Json::array({-1})) {
        return "softmax over an axis other than -1 is not supported";
      }
      return "";
    case LayerKind::kPermute: {
      if (!has(c, "dims") || !c["dims"].is_array()) return "no dims";
      std::vector<int64_t> dims;
      for (const Json& d : c["dims"]) {
        if (!d.is_number_integer()) return fmt::format("dims {} are not integers", c["dims"].dump());
        dims.push_back(d.get<int64_t>());
      }
      try {
        layout::permutation_from_keras(dims);
      } catch (const ModelError& err) {
        return err.what();
      }
      return "";
    }
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: {
      std::string why = activation_reason(c);
      if (why.empty() && k->kind == LayerKind::kGRU && c.contains("recurrent_activation")) {
        auto a = activation_of(c["recurrent_activation"]);
        if (a != ir::Activation::kSigmoid && a != ir::Activation::kHardSigmoid) {
          why = fmt::format("recurrent_activation {} is not supported (sigmoid, hard_sigmoid)", c["recurrent_activation"].dump());
        }
      }
      for (const char* flag : {"go_backwards", "stateful", "return_state", "time_major"}) {
        if (why.empty() && c.value(flag, false)) why = fmt::format("{}=true is not supported", flag);
      }
      return why;
    }
    case LayerKind::kLSTM:
      if (c.value("activation", std::string("tanh")) != "tanh") return "activation other than tanh is not supported";
      if (c.contains("recurrent_activation")) {
        auto a = activation_of(c["recurrent_activation"]);
        if (a != ir::Activation::kSigmoid && a != ir::Activation::kHardSigmoid) {
          return fmt::format("recurrent_activation {} is not supported (sigmoid, hard_sigmoid)", c["recurrent_activation"].dump());
        }
      }
      for (const char* flag : {"go_backwards", "stateful", "return_state", "time_major"}) {
        if (c.value(flag, false)) return fmt::format("{}=true is not supported", flag);
      }
      return "";
  }
  return "";
}

ir::Layer to_ir_layer(const LayerEntry& e, const std::vector<ir::Shape>& ins, const std::string& file) {
  if (e.class_name == "Bidirectional") return bidirectional_to_ir(e, ins, file);
  const KerasClass* k = find_class(e.class_name);
  if (!k) throw InternalError("to_ir_layer on an unsupported class");
  const Json& c = config_of(e);
  ir::Layer l;
  l.name = e.name;
  l.kind = k->kind;
  l.inputs = e.inputs;
  auto fail = [&](const std::string& what) { return ModelError(fmt::format("{}: {}: {}", file, where(e), what)); };
  // The fields every convolution shares: kernel, strides, dilation, padding, bias, activation.
  auto read_window = [&](size_t n) {
    l.kernel = ints(c, "kernel_size", n, {});
    if (l.kernel.empty()) throw fail("has no kernel_size");
    l.strides = ints(c, "strides", n, std::vector<int64_t>(n, 1));
    l.dilation = ints(c, "dilation_rate", n, std::vector<int64_t>(n, 1));
    l.padding = c.value("padding", std::string("valid")) == "same" ? ir::Padding::kSame : ir::Padding::kValid;
    l.use_bias = c.value("use_bias", true);
    set_fused_activation(l, c);
  };
  auto rank_of_input = [&]() -> size_t {
    if (ins.empty()) throw fail("has no input");
    return ins[0].size();
  };
  try {
    switch (l.kind) {
      case LayerKind::kInput: {
        Json shape = has(c, "batch_shape") ? c["batch_shape"] : has(c, "batch_input_shape") ? c["batch_input_shape"] : Json();
        if (!shape.is_array() || shape.size() < 2) throw fail("has no batch_shape / batch_input_shape");
        std::vector<int64_t> dims;
        for (size_t i = 1; i < shape.size(); ++i) {
          if (shape[i].is_null()) {
            throw UnsupportedError(fmt::format("{}: {}: input shape {} has an unknown dimension; snare needs fixed sizes",
                                               file, where(e), shape.dump()));
          }
          dims.push_back(shape[i].get<int64_t>());
        }
        l.input_shape = layout::shape_from_keras(dims);
        break;
      }
      case LayerKind::kDense:
        if (rank_of_input() != 1) {
          throw UnsupportedError(fmt::format("{}: {}: Dense on an input of rank {} {} is not supported (only flat inputs)",
                                             file, where(e), ins[0].size(), ir::shape_string(ins[0])));
        }
        l.units = c.at("units").get<int64_t>();
        l.use_bias = c.value("use_bias", true);
        set_fused_activation(l, c);
        break;
      case LayerKind::kConv1D:
      case LayerKind::kConv2D: {
        l.units = c.at("filters").get<int64_t>();
        read_window(spatial_dims(l.kind));
        l.groups = c.value("groups", int64_t{1});
        if (l.units % l.groups != 0) throw fail(fmt::format("groups {} does not divide filters {}", l.groups, l.units));
        if (ins.empty() || ins[0].empty() || ins[0][0] % l.groups != 0) {
          throw fail(fmt::format("groups {} does not divide the input channels {}", l.groups,
                                 ins.empty() ? std::string("?") : ir::shape_string(ins[0])));
        }
        break;
      }
      case LayerKind::kSeparableConv1D:
      case LayerKind::kSeparableConv2D: {
        l.units = c.at("filters").get<int64_t>();
        l.multiplier = c.value("depth_multiplier", int64_t{1});
        read_window(spatial_dims(l.kind));
        break;
      }
      case LayerKind::kDepthwiseConv2D: {
        if (rank_of_input() != 3) {
          throw fail(fmt::format("needs an (H, W, C) input, got {}", ir::shape_string(ins[0])));
        }
        l.multiplier = c.value("depth_multiplier", int64_t{1});
        l.units = ins[0][0] * l.multiplier;
        read_window(2);
        break;
      }
      case LayerKind::kMaxPool1D:
      case LayerKind::kMaxPool2D:
      case LayerKind::kAvgPool1D:
      case LayerKind::kAvgPool2D: {
        size_t n = spatial_dims(l.kind);
        l.kernel = ints(c, "pool_size", n, std::vector<int64_t>(n, 2));
        l.strides = ints(c, "strides", n, l.kernel);
        l.padding = c.value("padding", std::string("valid")) == "same" ? ir::Padding::kSame : ir::Padding::kValid;
        break;
      }
      case LayerKind::kGlobalAvgPool1D:
      case LayerKind::kGlobalAvgPool2D:
      case LayerKind::kGlobalMaxPool1D:
      case LayerKind::kGlobalMaxPool2D: l.keepdims = c.value("keepdims", false); break;
      case LayerKind::kFlatten: l.channels_last = true; break;
      case LayerKind::kReshape: {
        std::vector<int64_t> target;
        for (const Json& d : c.at("target_shape")) target.push_back(d.get<int64_t>());
        l.target_shape = layout::shape_from_keras(target);
        l.channels_last = true;
        break;
      }
      case LayerKind::kZeroPadding1D:
        l.pads = ints(c, "padding", 2, {1, 1});
        break;
      case LayerKind::kZeroPadding2D: l.pads = pads_2d(c.contains("padding") ? c["padding"] : Json(1)); break;
      case LayerKind::kCropping1D: l.pads = ints(c, "cropping", 2, {1, 1}); break;
      case LayerKind::kCropping2D: l.pads = pads_2d(c.contains("cropping") ? c["cropping"] : Json(0)); break;
      case LayerKind::kUpSampling1D: l.scale = ints(c, "size", 1, {2}); break;
      case LayerKind::kUpSampling2D: l.scale = ints(c, "size", 2, {2, 2}); break;
      case LayerKind::kDropout: l.rate = c.value("rate", 0.0); break;
      case LayerKind::kBatchNorm: {
        l.epsilon = c.value("epsilon", 1e-3);
        l.momentum = c.value("momentum", 0.99);
        l.use_scale = c.value("scale", true);  // gamma
        l.use_bias = c.value("center", true);  // beta
        Json axis = c.contains("axis") ? c["axis"] : Json(-1);
        if (axis.is_array()) axis = axis.at(0);
        if (layout::axis_from_keras(axis.get<int64_t>(), rank_of_input()) != 0) {
          throw UnsupportedError(fmt::format("{}: {}: normalisation over axis {} is not supported (only the channel axis)",
                                             file, where(e), axis.dump()));
        }
        break;
      }
      case LayerKind::kActivation:
        if (e.class_name == "Activation") {
          set_fused_activation(l, c);
        } else if (e.class_name == "ReLU") {
          // relu_reason() admitted only relu, relu6 and leaky_relu forms.
          double slope = number(c, "negative_slope").value_or(0.0);
          bool six = number(c, "max_value").has_value();
          l.activation = slope != 0.0 ? ir::Activation::kLeakyRelu : six ? ir::Activation::kRelu6 : ir::Activation::kRelu;
          l.alpha = slope;
        } else if (e.class_name == "LeakyReLU") {
          l.activation = ir::Activation::kLeakyRelu;
          l.alpha = has(c, "negative_slope") ? c["negative_slope"].get<double>() : c.value("alpha", 0.3);
        } else if (e.class_name == "ELU") {
          l.activation = ir::Activation::kElu;
          l.alpha = c.value("alpha", 1.0);
        } else {  // Softmax
          l.activation = ir::Activation::kSoftmax;
        }
        break;
      case LayerKind::kAdd:
      case LayerKind::kSubtract:
      case LayerKind::kMultiply:
      case LayerKind::kAverage:
      case LayerKind::kMaximum:
      case LayerKind::kMinimum: break;
      case LayerKind::kConcatenate: {
        int64_t axis = c.value("axis", int64_t{-1});
        l.axis = layout::axis_from_keras(axis, rank_of_input());
        if (l.axis < 0) throw fail(fmt::format("axis {} is out of range for inputs of rank {}", axis, rank_of_input()));
        break;
      }
      case LayerKind::kLSTM:
      case LayerKind::kGRU:
      case LayerKind::kSimpleRNN:
        if (rank_of_input() != 2) throw fail(fmt::format("needs a (steps, features) input, got {}", ir::shape_string(ins[0])));
        l.units = c.at("units").get<int64_t>();
        l.return_sequences = c.value("return_sequences", false);
        l.use_bias = c.value("use_bias", true);
        l.activation = ir::Activation::kTanh;  // Keras' default; an LSTM's is always tanh (unsupported_reason)
        if (l.kind != LayerKind::kLSTM && c.contains("activation")) set_fused_activation(l, c);
        if (l.kind != LayerKind::kSimpleRNN) {
          l.recurrent_activation = c.contains("recurrent_activation")
                                       ? activation_of(c["recurrent_activation"]).value_or(ir::Activation::kSigmoid)
                                       : ir::Activation::kSigmoid;
        }
        if (l.kind == LayerKind::kGRU) {
          // Configs without the key predate it (standalone Keras 2.1-2.3), whose default was False; tf.keras writes it.
          l.reset_after = c.value("reset_after", false);
        }
        break;
      case LayerKind::kPermute: {
        std::vector<int64_t> dims;
        for (const Json& d : c.at("dims")) dims.push_back(d.get<int64_t>());
        if (dims.size() != rank_of_input()) {
          throw fail(fmt::format("dims [{}] do not match its input of rank {}", fmt::join(dims, ","), ins[0].size()));
        }
        l.permutation = layout::permutation_from_keras(dims);
        break;
      }
    }
  } catch (const Json::exception& err) {
    throw fail(fmt::format("malformed config: {}", err.what()));
  }
  return l;
}

std::vector<std::string> keras_weight_names(const ir::Layer& l) {
  if (!ir::traits(l.kind).weighted) return {};
  switch (l.kind) {
    case LayerKind::kDense:
    case LayerKind::kConv1D:
    case LayerKind::kConv2D:
      if (l.use_bias) return {"kernel", "bias"};
      return {"kernel"};
    case LayerKind::kDepthwiseConv2D:
      if (l.use_bias) return {"depthwise_kernel", "bias"};
      return {"depthwise_kernel"};
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D:
      if (l.use_bias) return {"depthwise_kernel", "pointwise_kernel", "bias"};
      return {"depthwise_kernel", "pointwise_kernel"};
    case LayerKind::kBatchNorm: {
      std::vector<std::string> names;
      if (l.use_scale) names.push_back("gamma");
      if (l.use_bias) names.push_back("beta");
      names.push_back("moving_mean");
      names.push_back("moving_variance");
      return names;
    }
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: return recurrent_keras_names(l);
    default: throw InternalError(fmt::format("layer '{}': no Keras weight names for kind {}", l.name, ir::kind_name(l.kind)));
  }
  return {};
}

std::string keras_class_for(const ir::Layer& l, Style style) {
  if (!l.origin_config.empty()) {
    Json origin = Json::parse(l.origin_config, nullptr, false);
    if (origin.is_object() && origin.contains("class_name") && origin["class_name"].is_string()) {
      return origin["class_name"].get<std::string>();
    }
  }
  if (ir::is_recurrent(l.kind) && l.bidirectional) return "Bidirectional";
  if (l.kind == LayerKind::kActivation) {
    if (l.activation == ir::Activation::kLeakyRelu) return "LeakyReLU";
    // tf.keras 2.x has no "relu6" activation identifier; its ReLU layer with max_value=6 is relu6.
    if (l.activation == ir::Activation::kRelu6 && style == Style::kKeras2) return "ReLU";
    if (l.activation == ir::Activation::kElu && l.alpha != 0.0 && l.alpha != 1.0) return "ELU";
    return "Activation";
  }
  // Every other kind has one class in the table.
  for (const KerasClass& c : supported_classes()) {
    if (c.kind == l.kind) return c.name;
  }
  throw InternalError(fmt::format("layer '{}': no Keras class for kind {}", l.name, ir::kind_name(l.kind)));
}

Json modeled_config(const ir::Layer& l, const std::string& cls, const std::vector<ir::Shape>& ins, Style style) {
  Json c = Json::object();
  switch (l.kind) {
    case LayerKind::kInput: c[style == Style::kKeras3 ? "batch_shape" : "batch_input_shape"] = keras_shape(l.input_shape); break;
    case LayerKind::kDense:
      c["units"] = l.units;
      c["activation"] = activation_json(l, style);
      c["use_bias"] = l.use_bias;
      break;
    case LayerKind::kConv1D:
    case LayerKind::kConv2D:
      c["filters"] = l.units;
      c["kernel_size"] = l.kernel;
      c["strides"] = l.strides.empty() ? std::vector<int64_t>(l.kernel.size(), 1) : l.strides;
      c["padding"] = l.padding == ir::Padding::kSame ? "same" : "valid";
      c["data_format"] = "channels_last";
      c["dilation_rate"] = l.dilation.empty() ? std::vector<int64_t>(l.kernel.size(), 1) : l.dilation;
      if (l.groups != 1 || origin_has(l, "groups")) c["groups"] = l.groups;
      c["activation"] = activation_json(l, style);
      c["use_bias"] = l.use_bias;
      break;
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D:
      c["filters"] = l.units;
      [[fallthrough]];
    case LayerKind::kDepthwiseConv2D:
      c["kernel_size"] = l.kernel;
      c["strides"] = l.strides.empty() ? std::vector<int64_t>(l.kernel.size(), 1) : l.strides;
      c["padding"] = l.padding == ir::Padding::kSame ? "same" : "valid";
      c["data_format"] = "channels_last";
      c["dilation_rate"] = l.dilation.empty() ? std::vector<int64_t>(l.kernel.size(), 1) : l.dilation;
      c["activation"] = activation_json(l, style);
      c["use_bias"] = l.use_bias;
      c["depth_multiplier"] = l.multiplier;
      break;
    case LayerKind::kMaxPool1D:
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool1D:
    case LayerKind::kAvgPool2D:
      c["pool_size"] = l.kernel;
      c["padding"] = l.padding == ir::Padding::kSame ? "same" : "valid";
      c["strides"] = l.strides.empty() ? l.kernel : l.strides;
      c["data_format"] = "channels_last";
      break;
    case LayerKind::kGlobalAvgPool1D:
    case LayerKind::kGlobalAvgPool2D:
    case LayerKind::kGlobalMaxPool1D:
    case LayerKind::kGlobalMaxPool2D:
      c["data_format"] = "channels_last";
      if (l.keepdims || origin_has(l, "keepdims")) c["keepdims"] = l.keepdims;
      break;
    case LayerKind::kFlatten: c["data_format"] = "channels_last"; break;
    case LayerKind::kReshape: c["target_shape"] = layout::shape_to_keras(l.target_shape); break;
    case LayerKind::kZeroPadding1D: c["padding"] = l.pads; break;
    case LayerKind::kZeroPadding2D:
      c["padding"] = Json::array({Json::array({l.pads.at(0), l.pads.at(1)}), Json::array({l.pads.at(2), l.pads.at(3)})});
      c["data_format"] = "channels_last";
      break;
    case LayerKind::kDropout: c["rate"] = l.rate; break;
    case LayerKind::kBatchNorm:
      c["momentum"] = l.momentum;
      c["epsilon"] = l.epsilon;
      // Written only where they differ from Keras' default, so a generated entry keeps its field order.
      if (!l.use_bias) c["center"] = false;
      if (!l.use_scale) c["scale"] = false;
      break;
    case LayerKind::kActivation:
      if (cls == "ReLU") {
        expect_activation(l, cls, {ir::Activation::kRelu, ir::Activation::kRelu6, ir::Activation::kLeakyRelu});
        c["max_value"] = l.activation == ir::Activation::kRelu6 ? Json(6.0) : Json(nullptr);
        c["negative_slope"] = l.activation == ir::Activation::kLeakyRelu ? l.alpha : 0.0;
        c["threshold"] = 0.0;
      } else if (cls == "LeakyReLU") {
        expect_activation(l, cls, {ir::Activation::kLeakyRelu});
        c[style == Style::kKeras3 ? "negative_slope" : "alpha"] = l.alpha;
      } else if (cls == "ELU") {
        expect_activation(l, cls, {ir::Activation::kElu});
        c["alpha"] = l.alpha == 0.0 ? 1.0 : l.alpha;
      } else if (cls == "Softmax") {
        expect_activation(l, cls, {ir::Activation::kSoftmax});
      } else {
        c["activation"] = activation_json(l, style);
      }
      break;
    case LayerKind::kAdd:
    case LayerKind::kSubtract:
    case LayerKind::kMultiply:
    case LayerKind::kAverage:
    case LayerKind::kMaximum:
    case LayerKind::kMinimum: break;
    case LayerKind::kCropping1D: c["cropping"] = l.pads; break;
    case LayerKind::kCropping2D:
      c["cropping"] = Json::array({Json::array({l.pads.at(0), l.pads.at(1)}), Json::array({l.pads.at(2), l.pads.at(3)})});
      c["data_format"] = "channels_last";
      break;
    case LayerKind::kUpSampling1D: c["size"] = l.scale.at(0); break;
    case LayerKind::kUpSampling2D:
      c["size"] = l.scale;
      c["data_format"] = "channels_last";
      c["interpolation"] = "nearest";
      break;
    case LayerKind::kConcatenate: c["axis"] = layout::axis_to_keras(l.axis, ins.at(0).size()); break;
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: {
      Json r = Json::object();
      r["return_sequences"] = l.return_sequences;
      r["units"] = l.units;
      r["activation"] = l.kind == LayerKind::kLSTM ? Json("tanh") : activation_json(l, style);
      if (l.kind != LayerKind::kSimpleRNN) {
        expect_expressible(l, l.recurrent_activation, style);
        r["recurrent_activation"] = keras_activation_name(l.recurrent_activation, style);
      }
      if (l.kind == LayerKind::kGRU) r["reset_after"] = l.reset_after;
      r["use_bias"] = l.use_bias;
      if (cls != "Bidirectional") {
        c = r;
        break;
      }
      // The wrapped layer's config sits in "layer" (the writer completes it and keeps a read file's other fields).
      c["layer"] = Json{{"class_name", recurrent_class(l.kind)}, {"config", r}};
      c["merge_mode"] = ir::merge_mode_name(l.merge_mode);
      break;
    }
    case LayerKind::kPermute: c["dims"] = layout::permutation_to_keras(l.permutation); break;
  }
  return c;
}

std::string snake_case(const std::string& class_name) {
  static const std::regex kNonWord("[^A-Za-z0-9_]+");
  static const std::regex kWord("(.)([A-Z][a-z]+)");
  static const std::regex kHump("([a-z])([A-Z])");
  std::string s = std::regex_replace(class_name, kNonWord, "");
  s = std::regex_replace(s, kWord, "$1_$2");
  s = std::regex_replace(s, kHump, "$1_$2");
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

}  // namespace snare::io::keras
