// read_keras: container (legacy HDF5 or .keras zip) -> model config + per-layer Keras weights ->
// ir::Graph. The steps, in order: open and find the config, parse it, reject every unsupported
// layer at once, then build layer by layer (IR layer, weights converted and checked against the
// config, shapes inferred), and finally restore snare's own root attributes (meta, masks).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <functional>

#include "common/error.h"
#include "io/facts.h"
#include "io/file_named.h"
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

struct NamedTensor {
  std::string name;
  at::Tensor value;
};

/// Where a layer's stored Keras weights come from, in Keras' order.
using WeightSource = std::function<std::vector<NamedTensor>(const LayerEntry&, const ir::Layer&)>;

std::string where(const std::string& file, const ir::Layer& l, const std::string& cls) {
  return fmt::format("{}: layer '{}' ({})", file, l.name, cls);
}

std::string dims(const at::Tensor& t) {
  std::vector<int64_t> s(t.sizes().begin(), t.sizes().end());
  return fmt::format("[{}]", fmt::join(s, ","));
}

/// Keras splits long name lists into "name0", "name1", ... (HDF5's 64 KiB object header limit).
std::vector<std::string> chunked_attr(const h5::Group& g, const std::string& name) {
  if (g.has_attr(name)) return g.attr_strings(name);
  std::vector<std::string> out;
  for (int i = 0; g.has_attr(name + std::to_string(i)); ++i) {
    for (std::string& s : g.attr_strings(name + std::to_string(i))) out.push_back(std::move(s));
  }
  if (out.empty() && !g.has_attr(name + "0")) {
    throw ModelError(fmt::format("{}: group '{}' has no '{}' attribute", g.label(), g.path(), name));
  }
  return out;
}

/// Converts and checks one layer's Keras weights; messages say expected vs got.
std::map<std::string, at::Tensor> convert_weights(const ir::Layer& l, const std::string& cls,
                                                  const std::vector<NamedTensor>& stored, const ir::Shape& in,
                                                  const std::string& file) {
  std::vector<std::string> expected = keras_weight_names(l);
  if (stored.size() != expected.size()) {
    std::vector<std::string> got;
    for (const NamedTensor& t : stored) got.push_back(t.name);
    throw ModelError(fmt::format("{}: expected {} weights ({}) but the file has {} ({})", where(file, l, cls),
                                 expected.size(), fmt::join(expected, ", "), stored.size(),
                                 got.empty() ? "none" : fmt::format("{}", fmt::join(got, ", "))));
  }
  auto check = [&](size_t i, const std::vector<int64_t>& shape, const std::string& why) {
    const at::Tensor& t = stored[i].value;
    if (!t.sizes().equals(shape)) {
      throw ModelError(fmt::format("{}: {} has shape {} but {}", where(file, l, cls), expected[i], dims(t), why));
    }
  };
  auto bias = [&](size_t i, int64_t n, const char* what) {
    check(i, {n}, fmt::format("config says {}={}", what, n));
  };
  std::map<std::string, at::Tensor> w;
  if (!ir::traits(l.kind).weighted) return w;
  switch (l.kind) {
    case LayerKind::kDense: {
      const at::Tensor& k = stored[0].value;
      if (k.dim() != 2 || k.size(1) != l.units) check(0, {in.at(0), l.units}, fmt::format("config says units={}", l.units));
      check(0, {in.at(0), l.units}, fmt::format("the layer's input has {} features", in.at(0)));
      w["weight"] = layout::dense_kernel_from_keras(k);
      if (l.use_bias) {
        bias(1, l.units, "units");
        w["bias"] = stored[1].value;
      }
      break;
    }
    case LayerKind::kConv1D:
    case LayerKind::kConv2D: {
      std::vector<int64_t> shape = l.kernel;
      shape.push_back(in.at(0) / l.groups);
      shape.push_back(l.units);
      const at::Tensor& k = stored[0].value;
      if (k.dim() != static_cast<int64_t>(shape.size()) || k.size(-1) != l.units) {
        check(0, shape, fmt::format("config says filters={}", l.units));
      }
      std::vector<int64_t> ks(k.sizes().begin(), k.sizes().end() - 2);
      if (ks != l.kernel) check(0, shape, fmt::format("config says kernel_size=[{}]", fmt::join(l.kernel, ",")));
      check(0, shape, l.groups == 1 ? fmt::format("the layer's input has {} channels", in.at(0))
                                    : fmt::format("the layer's input has {} channels in {} groups", in.at(0), l.groups));
      w["weight"] = layout::conv_kernel_from_keras(k);
      if (l.use_bias) {
        bias(1, l.units, "filters");
        w["bias"] = stored[1].value;
      }
      break;
    }
    case LayerKind::kDepthwiseConv2D: {
      std::vector<int64_t> shape = l.kernel;
      shape.push_back(in.at(0));
      shape.push_back(l.multiplier);
      const at::Tensor& k = stored[0].value;
      if (k.dim() != 4 || k.size(3) != l.multiplier) check(0, shape, fmt::format("config says depth_multiplier={}", l.multiplier));
      if (k.size(0) != l.kernel[0] || k.size(1) != l.kernel[1]) {
        check(0, shape, fmt::format("config says kernel_size=[{}]", fmt::join(l.kernel, ",")));
      }
      check(0, shape, fmt::format("the layer's input has {} channels", in.at(0)));
      w["weight"] = layout::depthwise_kernel_from_keras(k);
      if (l.use_bias) {
        bias(1, l.units, "channels*depth_multiplier");
        w["bias"] = stored[1].value;
      }
      break;
    }
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D: {
      const int64_t depth = in.at(0) * l.multiplier;
      std::vector<int64_t> dw = l.kernel, pw(l.kernel.size(), 1);
      dw.push_back(in.at(0));
      dw.push_back(l.multiplier);
      pw.push_back(depth);
      pw.push_back(l.units);
      check(0, dw, fmt::format("the layer's input has {} channels and config says kernel_size=[{}], depth_multiplier={}",
                               in.at(0), fmt::join(l.kernel, ","), l.multiplier));
      check(1, pw, fmt::format("config says filters={} (after {} depthwise channels)", l.units, depth));
      w["depthwise"] = layout::depthwise_kernel_from_keras(stored[0].value);
      w["weight"] = layout::conv_kernel_from_keras(stored[1].value);
      if (l.use_bias) {
        bias(2, l.units, "filters");
        w["bias"] = stored[2].value;
      }
      break;
    }
    case LayerKind::kBatchNorm: {
      // gamma only with scale=True, beta only with center=True (keras_weight_names lists what is there).
      std::vector<const char*> names;
      if (l.use_scale) names.push_back("weight");
      if (l.use_bias) names.push_back("bias");
      names.push_back("running_mean");
      names.push_back("running_var");
      for (size_t i = 0; i < names.size(); ++i) {
        check(i, {in.at(0)}, fmt::format("the layer's input has {} channels", in.at(0)));
        w[names[i]] = stored[i].value;
      }
      break;
    }
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: {
      std::vector<at::Tensor> values;
      for (const NamedTensor& t : stored) values.push_back(t.value);
      w = recurrent_from_keras(l, values, in.at(0), where(file, l, cls));
      break;
    }
    default: throw InternalError(fmt::format("{}: no Keras weight conversion for this kind", where(file, l, cls)));
  }
  return w;
}

/// The names among a nested model group's `weight_names` that belong to layer `e`: each name goes to the layer of
/// that group whose Keras name is the longest one it starts with ("layer1/conv/kernel:0" to "layer1/conv",
/// "layer1/conv/bn/beta:0" to "layer1/conv/bn") or, Keras 3 style, holds as a path component
/// ("sequential/layer1/conv/kernel"). Keras' order is kept.
std::vector<std::string> nested_weight_names(const std::vector<std::string>& names, const LayerEntry& e,
                                             const ModelConfig& mc) {
  std::vector<std::string> siblings;
  for (const LayerEntry& x : mc.layers) {
    if (x.weights_group == e.weights_group) siblings.push_back(x.keras_name);
  }
  auto owner = [&](const std::string& n) {
    std::string best;
    for (const std::string& k : siblings) {
      bool match = n.rfind(k + "/", 0) == 0 || n.find("/" + k + "/") != std::string::npos;
      if (match && k.size() > best.size()) best = k;
    }
    return best;
  };
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if (owner(n) == e.keras_name) out.push_back(n);
  }
  return out;
}

/// Keras 3 defines hard_sigmoid as relu6(x + 3) / 6; the IR's is Keras 2's clip(0.2 x + 0.5, 0, 1).
void reject_keras3_hard_sigmoid(const ir::Layer& l, const std::string& cls, Style style, const std::string& file) {
  bool hard = l.activation == ir::Activation::kHardSigmoid ||
              (ir::is_recurrent(l.kind) && l.kind != LayerKind::kSimpleRNN &&
               l.recurrent_activation == ir::Activation::kHardSigmoid);
  if (style == Style::kKeras3 && hard) {
    throw UnsupportedError(fmt::format("{}: hard_sigmoid in a Keras 3 file is relu6(x+3)/6, which snare does not model "
                                       "(snare's hard_sigmoid is Keras 2's clip(0.2x+0.5, 0, 1))",
                                       where(file, l, cls)));
  }
}

ir::Graph build_graph(const ModelConfig& mc, const std::string& file, const WeightSource& weights, Style style) {
  std::vector<std::string> problems;
  for (const LayerEntry& e : mc.layers) {
    std::string why = unsupported_reason(e);
    if (!why.empty()) problems.push_back(fmt::format("'{}' ({}): {}", e.name, e.class_name, why));
  }
  if (!problems.empty()) {
    throw UnsupportedError(fmt::format("{}: {} unsupported layer{}: {}", file, problems.size(),
                                       problems.size() == 1 ? "" : "s", fmt::join(problems, "; ")));
  }
  size_t inputs = std::count_if(mc.layers.begin(), mc.layers.end(),
                                [](const LayerEntry& e) { return e.class_name == "InputLayer"; });
  if (inputs != 1) throw UnsupportedError(fmt::format("{}: model has {} InputLayers; snare supports one", file, inputs));

  ir::Graph g;
  g.name = mc.name;
  g.outputs = mc.outputs;
  std::map<std::string, ir::Shape> shapes;
  for (const LayerEntry& e : mc.layers) {
    std::vector<ir::Shape> ins;
    for (const std::string& i : e.inputs) {
      auto it = shapes.find(i);
      if (it == shapes.end()) {
        throw ModelError(fmt::format("{}: layer '{}' ({}) reads '{}', which is not defined before it", file, e.name,
                                     e.class_name, i));
      }
      ins.push_back(it->second);
    }
    ir::Layer l = to_ir_layer(e, ins, file);
    reject_keras3_hard_sigmoid(l, e.class_name, style, file);
    l.origin_config = e.entry.dump();
    if (!keras_weight_names(l).empty()) l.weights = convert_weights(l, e.class_name, weights(e, l), ins.at(0), file);
    g.layers.push_back(std::move(l));
    try {
      g.infer_shape_of_last();
    } catch (const ModelError& err) {
      throw ModelError(fmt::format("{}: {}", file, err.what()));
    }
    shapes[e.name] = g.layers.back().output_shape;
  }
  // Shapes were inferred for checking; a freshly read graph carries them as any graph would.
  return g;
}

/// Restores snare's own root attributes: snare_meta (the facts of io/facts.h; other keys are kept in Graph::meta)
/// and snare_masks.
void restore_snare_attributes(ir::Graph& g, const h5::Group& root, const std::string& file) {
  if (root.has_attr("snare_meta")) {
    Json meta = Json::parse(root.attr_string("snare_meta"), nullptr, false);
    if (!meta.is_object()) throw ModelError(fmt::format("{}: attribute snare_meta is not a JSON object", file));
    for (const auto& [key, value] : meta.items()) {
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      if (!read_fact_entry(g, key, text, file, "attribute snare_meta")) g.meta[key] = text;
    }
  }
  if (root.has_attr("snare_masks")) {
    Json masks = Json::parse(root.attr_string("snare_masks"), nullptr, false);
    if (!masks.is_object()) throw ModelError(fmt::format("{}: attribute snare_masks is not a JSON object", file));
    for (const auto& item : masks.items()) {
      int idx = g.index_of(item.key());
      if (idx < 0) throw ModelError(fmt::format("{}: snare_masks names layer '{}', which the model lacks", file, item.key()));
      ir::Layer& l = g.layers[static_cast<size_t>(idx)];
      for (const Json& name : item.value()) {
        auto w = l.weights.find(name.get<std::string>());
        if (w == l.weights.end()) {
          throw ModelError(fmt::format("{}: snare_masks names weight '{}' of layer '{}', which it lacks", file,
                                       name.get<std::string>(), l.name));
        }
        l.masks[w->first] = w->second.ne(0).to(at::kFloat);
      }
    }
  }
}

Json parse_json(const std::string& text, const std::string& file, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& err) {  // parse_error, and out_of_range for a number beyond a double
    throw ModelError(fmt::format("{}: {} is not valid JSON: {}", file, what, err.what()));
  }
}

std::string optional_attr(const h5::Group& g, const std::string& name) {
  return g.has_attr(name) ? g.attr_string(name) : std::string();
}

/// A legacy full-model HDF5 file, opened from disk or from memory; `path` names it in messages.
ir::Graph read_h5(const h5::File& f, const std::string& path) {
  h5::Group root = f.root();
  if (!root.has_attr("model_config")) {
    throw ModelError(fmt::format("{}: no 'model_config' attribute: not a full Keras model file (weights-only files "
                                 "cannot be read)",
                                 path));
  }
  ModelConfig mc = parse_model_config(parse_json(root.attr_string("model_config"), path, "model_config"), path);
  if (!root.has_group("model_weights")) throw ModelError(fmt::format("{}: no 'model_weights' group", path));
  h5::Group mw = root.group("model_weights");
  std::vector<std::string> layer_names = chunked_attr(mw, "layer_names");

  WeightSource source = [&](const LayerEntry& e, const ir::Layer& l) {
    // A layer read from a nested model has its weights in the nested model's group, among its siblings'.
    const std::string& group = e.weights_group.empty() ? e.name : e.weights_group;
    if (std::find(layer_names.begin(), layer_names.end(), group) == layer_names.end() || !mw.has_group(group)) {
      throw ModelError(fmt::format("{}: layer '{}' ({}): missing weights: model_weights has no group '{}'", path,
                                   e.name, e.class_name, group));
    }
    h5::Group lg = mw.group(group);
    std::vector<std::string> names = chunked_attr(lg, "weight_names");
    if (!e.weights_group.empty()) names = nested_weight_names(names, e, mc);
    std::vector<NamedTensor> out;
    for (const std::string& name : names) {
      if (!lg.has_dataset(name)) {
        throw ModelError(fmt::format("{}: layer '{}' ({}): missing weight: weight_names lists '{}' but there is no "
                                     "dataset '{}/{}'",
                                     path, e.name, e.class_name, name, lg.path(), name));
      }
      out.push_back({name, lg.dataset(name)});
    }
    (void)l;
    return out;
  };
  ir::Graph g = build_graph(mc, path, source, style_of_version(optional_attr(root, "keras_version")));
  g.meta["format"] = "keras-h5";
  g.meta["keras.keras_version"] = optional_attr(root, "keras_version");
  g.meta["keras.backend"] = optional_attr(root, "backend");
  if (root.has_attr("training_config")) g.meta["keras.training_config"] = root.attr_string("training_config");
  g.meta["keras.model_class"] = mc.model_class;
  g.meta["keras.model_config"] = mc.skeleton.dump();
  if (!mc.implicit_input.empty()) g.meta["keras.implicit_input"] = mc.implicit_input;
  restore_snare_attributes(g, root, path);
  return g;
}

const std::vector<std::string> kZipEntries{"config.json", "metadata.json", "model.weights.h5"};

/// A Keras 3 model from the entries of its `.keras` zip; `path` names the archive in messages.
ir::Graph read_zip_entries(std::map<std::string, std::string> entries, const std::string& path) {
  if (!entries.count("config.json")) {
    throw ModelError(fmt::format("{}: the zip archive has no config.json: not a .keras model", path));
  }
  if (!entries.count("model.weights.h5")) {
    throw ModelError(fmt::format("{}: the zip archive has no model.weights.h5: not a .keras model", path));
  }
  ModelConfig mc = parse_model_config(parse_json(entries["config.json"], path, "config.json"), path);
  for (const LayerEntry& e : mc.layers) {
    if (!e.weights_group.empty()) {
      throw UnsupportedError(fmt::format("{}: layer '{}' comes from the nested model '{}': nested models are read "
                                         "from legacy HDF5 (.h5) files only, not from .keras archives",
                                         path, e.name, e.weights_group));
    }
  }
  std::string label = path + ":model.weights.h5";
  h5::File f = h5::File::open_image(entries["model.weights.h5"], label);
  h5::Group root = f.root();

  // .keras files address layers by snake_case class name with a counter (saving_lib), not by name.
  std::map<std::string, std::string> paths;
  std::map<std::string, int> used;
  for (const LayerEntry& e : mc.layers) {
    if (e.class_name == "InputLayer") continue;
    std::string base = snake_case(e.class_name);
    int n = used.count(base) ? ++used[base] : (used[base] = 0);
    paths[e.name] = "layers/" + (n == 0 ? base : fmt::format("{}_{}", base, n));
  }
  WeightSource source = [&](const LayerEntry& e, const ir::Layer& l) {
    std::string base = paths.at(e.name);
    // Recurrent layers keep their variables in their cell; a Bidirectional in its forward_layer and backward_layer.
    std::vector<std::string> groups{base + "/vars"};
    if (ir::is_recurrent(l.kind) && l.bidirectional) {
      groups = {base + "/forward_layer/cell/vars", base + "/backward_layer/cell/vars"};
    } else if (ir::is_recurrent(l.kind) && root.has_group(base + "/cell/vars")) {
      groups = {base + "/cell/vars"};
    }
    std::vector<NamedTensor> out;
    for (const std::string& vars : groups) {
      if (!root.has_group(vars)) {
        throw ModelError(fmt::format("{}: layer '{}' ({}): missing weights: no group '/{}'", label, e.name,
                                     e.class_name, vars));
      }
      h5::Group g = root.group(vars);
      std::vector<std::string> names = g.members();
      std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;  // "2" before "10"
      });
      for (const std::string& n : names) out.push_back({vars + "/" + n, g.dataset(n)});
    }
    return out;
  };
  std::string version;
  if (entries.count("metadata.json")) {
    Json metadata = Json::parse(entries["metadata.json"], nullptr, false);
    if (metadata.is_object() && metadata.contains("keras_version") && metadata["keras_version"].is_string()) {
      version = metadata["keras_version"].get<std::string>();
    }
  }
  // Keras 2.13+ writes .keras archives too; without a version say, assume Keras 3.
  ir::Graph g = build_graph(mc, path, source, version.empty() ? Style::kKeras3 : style_of_version(version));
  g.meta["format"] = "keras-zip";
  if (entries.count("metadata.json")) g.meta["keras.metadata"] = entries["metadata.json"];
  g.meta["keras.keras_version"] = version;
  g.meta["keras.model_class"] = mc.model_class;
  g.meta["keras.model_config"] = mc.skeleton.dump();
  if (!mc.implicit_input.empty()) g.meta["keras.implicit_input"] = mc.implicit_input;
  restore_snare_attributes(g, root, label);
  return g;
}

/// `g` once ir::verify accepts it (unique names, known inputs, order): a config can name two layers alike.
ir::Graph verified(ir::Graph g) {
  ir::verify(g);
  return g;
}

}  // namespace

ir::Graph read_keras(const std::string& path) {
  return with_file_named(path, [&] {
    h5::silence_hdf5_errors();
    if (!std::ifstream(path, std::ios::binary)) throw ModelError(fmt::format("{}: cannot open the file", path));
    if (archive::is_zip(path)) return verified(read_zip_entries(archive::read_entries(path, kZipEntries), path));
    if (h5::has_hdf5_signature(path)) return verified(read_h5(h5::File::open(path), path));
    throw ModelError(fmt::format("{}: neither an HDF5 file nor a .keras zip archive", path));
  });
}

ir::Graph read_keras_bytes(const std::string& bytes, const std::string& label) {
  return with_file_named(label, [&] {
    h5::silence_hdf5_errors();
    if (archive::starts_like_zip(bytes)) {
      return verified(read_zip_entries(archive::read_entries_in_memory(bytes, label, kZipEntries), label));
    }
    if (h5::bytes_have_hdf5_signature(bytes)) return verified(read_h5(h5::File::open_image(bytes, label), label));
    throw ModelError(fmt::format("{}: neither an HDF5 file nor a .keras zip archive", label));
  });
}

ir::Graph read_keras_parts(const std::string& config_json, const std::string& weights_h5,
                           const std::string& metadata_json, const std::string& label) {
  return with_file_named(label, [&] {
    h5::silence_hdf5_errors();
    std::map<std::string, std::string> entries{{"config.json", config_json}, {"model.weights.h5", weights_h5}};
    if (!metadata_json.empty()) entries["metadata.json"] = metadata_json;
    return verified(read_zip_entries(std::move(entries), label));
  });
}

}  // namespace snare::io::keras
