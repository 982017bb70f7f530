// ir -> ONNX (opset 13). Each ir layer becomes one principal node named after the layer (plus
// Transposes, a separate activation node, ... around it); the tensor holding a layer's final output
// is named after the layer too, so a reader can map nodes back to layers. Weights go out in LibTorch
// layouts, which are ONNX's (Conv OIHW, Gemm with transB=1, depthwise [C*M,1,kh,kw] = Conv with group C),
// except recurrent gate orders (LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h). Activations opset 13 lacks (relu6, swish, hard_swish, gelu) are
// short chains of standard ops (Clip, Sigmoid/HardSigmoid + Mul, the erf formula) that the reader recognises.
// A channels-last Flatten read only by Dense layers goes out as a plain Flatten, its order folded
// into the Dense weights: one Transpose less per inference, which counts for small deployed models.
// What the reader folded away around the layers of a file it read goes back (graph.meta "onnx.preprocess":
// the input's Cast and scaling; "onnx.dropped_tail": ArgMax / Cast after the output), so an exported model
// takes and gives what the original did.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/checker.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/version.h"
#include "io/facts.h"
#include "io/onnx/onnx.h"
#include "io/onnx/proto.h"
#include "io/onnx/recurrent.h"

namespace snare::io::onnx {

using namespace detail;
using ir::Layer;
using ir::LayerKind;
using ir::Shape;

namespace {

constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;  // the IR version that goes with opset 13

std::vector<int64_t> to_last_perm(size_t per_sample_rank) {
  std::vector<int64_t> p{0};
  for (int64_t i = 2; i <= static_cast<int64_t>(per_sample_rank); ++i) p.push_back(i);
  p.push_back(1);
  return p;
}

std::vector<int64_t> to_first_perm(size_t per_sample_rank) {
  auto rank = static_cast<int64_t>(per_sample_rank) + 1;
  std::vector<int64_t> p{0, rank - 1};
  for (int64_t i = 1; i < rank - 1; ++i) p.push_back(i);
  return p;
}

/// TensorFlow "same" padding as ONNX pads [b1, b2, ..., e1, e2, ...]: the odd pixel goes at the end.
std::vector<int64_t> onnx_pads(const Layer& l, const Shape& in) {
  size_t dims = l.kernel.size();
  std::vector<int64_t> before(dims, 0), after(dims, 0);
  if (l.padding == ir::Padding::kSame) {
    for (size_t i = 0; i < dims; ++i) {
      // Convs default to stride 1, pools to their window.
      bool conv = ir::has_units(l.kind) || l.kind == LayerKind::kDepthwiseConv2D;
      int64_t s = l.strides.empty() ? (conv ? 1 : l.kernel[i]) : l.strides[i];
      int64_t d = l.dilation.empty() ? 1 : l.dilation[i];
      int64_t out = (in.at(i + 1) + s - 1) / s;
      int64_t total = std::max<int64_t>((out - 1) * s + (l.kernel[i] - 1) * d + 1 - in.at(i + 1), 0);
      before[i] = total / 2;
      after[i] = total - total / 2;
    }
  }
  before.insert(before.end(), after.begin(), after.end());
  return before;
}

class Writer {
 public:
  explicit Writer(const ir::Graph& graph) : g_(graph) {}
  pb::ModelProto build();

 private:
  void layer(const Layer& l);
  const Shape& in_shape(const Layer& l, size_t i = 0) const { return g_.layer(l.inputs.at(i)).output_shape; }
  std::string in(const Layer& l, size_t i = 0) const { return tensor_.at(l.inputs.at(i)); }
  /// Flatten/Reshape input: transposed to channels-last first when the layer works in that order.
  std::string channels_last_input(const Layer& l) {
    std::string x = in(l);
    if (!l.channels_last || in_shape(l).size() < 2) return x;
    std::string t = tensor_name(l.name + "/channels_last");
    pb::NodeProto* tr = node("Transpose", node_name(l.name + "/to_channels_last"), {x}, {t});
    set_attr(tr, "perm", to_last_perm(in_shape(l).size()));
    return t;
  }
  /// A tensor or node name not used yet; layer names are reserved for the layers' own tensor and
  /// principal node, so the reader gets the layer names back.
  std::string unique(const std::string& base, std::set<std::string>& used);
  std::string tensor_name(const std::string& base) { return unique(base, tensors_); }
  std::string node_name(const std::string& base) { return unique(base, nodes_); }
  pb::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                      const std::vector<std::string>& outputs);
  /// Finds the channels-last Flattens whose order can move into the Dense weights they feed.
  void plan_flatten_folds();
  std::string weight(const Layer& l, const std::string& key, const at::Tensor& t);
  std::string ints_const(const std::string& name, const std::vector<int64_t>& values);
  std::string float_const(const std::string& name, float value);
  /// LSTM / GRU / RNN node with the Transposes, Squeezes and merges around it (see layer()).
  void recurrent(const Layer& l);
  /// Conv / depthwise Conv node (`group` 1 for a plain conv, C for a depthwise one) and its activation.
  void conv(const Layer& l, int64_t group);
  /// SeparableConv: the depthwise Conv (`<layer>/depthwise`, doc string `snare: separable`), then the pointwise
  /// Conv with the bias (the layer's node) and the activation.
  void separable(const Layer& l);
  /// Element-wise merge: Add/Sum, Sub, Mul (a chain for more than two operands), Mean, Max, Min.
  void merge(const Layer& l);
  /// Emits `activation` from `x` into `out`; `standalone` marks an ir Activation layer.
  void activation(const Layer& l, const std::string& x, const std::string& out, const std::string& name, bool standalone);
  /// Output tensor for the layer's last node (its name, unless the name is taken by the input).
  std::string output_of(const Layer& l);
  void value_info(pb::ValueInfoProto* v, const std::string& name, const Shape& shape,
                  int32_t type = pb::TensorProto::FLOAT);
  /// The graph input and the preprocessing nodes the reader folded; returns the tensor the ir Input stands for.
  std::string preprocess();
  /// Whether the model's input scaling is still the one the reader made of the file's preprocessing (`into`: the
  /// reader's "onnx.preprocess_into"); training with another --scale changes it, and then the scaling nodes
  /// would be wrong.
  bool scaling_still_recorded(const std::string& into) const;
  /// The ArgMax / Cast tail the reader dropped, after output `out`; returns the tensor, its type and shape.
  std::string tail(const Layer& out, int32_t& type, Shape& shape);

  ir::Graph g_;
  pb::ModelProto model_;
  pb::GraphProto* graph_ = nullptr;
  std::map<std::string, std::string> tensor_;  ///< layer -> ONNX tensor holding its output
  std::set<std::string> tensors_, nodes_;      ///< names in use
  std::set<std::string> layer_names_;
  std::set<std::string> folded_flattens_;          ///< written without their Transpose
  std::map<std::string, Shape> dense_from_fold_;  ///< Dense -> channels-first shape of its folded Flatten's input
  std::string input_tensor_ = "input";            ///< what the ir Input stands for (after the preprocessing)
  bool wrote_scaling_ = false;                    ///< the scaling is in nodes, not metadata
};

void Writer::plan_flatten_folds() {
  std::vector<std::string> outputs = g_.output_names();
  for (const Layer& l : g_.layers) {
    if (l.kind != LayerKind::kFlatten || !l.channels_last || in_shape(l).size() < 2) continue;
    if (std::find(outputs.begin(), outputs.end(), l.name) != outputs.end()) continue;
    if (!only_dense_readers(g_, l.name)) continue;
    folded_flattens_.insert(l.name);
    for (const auto& r : g_.consumers(l.name)) dense_from_fold_[r] = in_shape(l);
  }
}

std::string Writer::unique(const std::string& base, std::set<std::string>& used) {
  std::string name = base;
  for (int k = 1; used.count(name) || layer_names_.count(name); ++k) name = base + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

pb::NodeProto* Writer::node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs) {
  pb::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

std::string Writer::weight(const Layer& l, const std::string& key, const at::Tensor& t) {
  std::string name = tensor_name(l.name + "." + key);
  from_tensor(t.to(at::kFloat), name, graph_->add_initializer());
  return name;
}

std::string Writer::ints_const(const std::string& base, const std::vector<int64_t>& values) {
  std::string name = tensor_name(base);
  from_tensor(at::tensor(values, at::kLong), name, graph_->add_initializer());
  return name;
}

std::string Writer::float_const(const std::string& base, float value) {
  std::string name = tensor_name(base);
  from_tensor(at::full({}, value, at::kFloat), name, graph_->add_initializer());
  return name;
}

std::string Writer::output_of(const Layer& l) {
  // The Input's tensor is "input": a later layer called "input" gets a suffixed tensor.
  std::string name = l.name;
  if (tensors_.count(name)) name = tensor_name(l.name);
  tensors_.insert(name);
  tensor_[l.name] = name;
  return name;
}

void Writer::value_info(pb::ValueInfoProto* v, const std::string& name, const Shape& shape, int32_t type) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : shape) t->mutable_shape()->add_dim()->set_dim_value(d);
}

void Writer::activation(const Layer& l, const std::string& x, const std::string& out, const std::string& name,
                        bool standalone) {
  Hints hints;
  if (standalone) hints.values["layer"] = "";
  // Activations without an opset-13 op are short chains; the last node carries `name` and `out`,
  // helpers are `<name>/...`, so the reader finds the activation (and its layer) at the last node.
  auto helper = [&](const std::string& what) { return std::pair{node_name(name + "/" + what), tensor_name(name + "/" + what)}; };
  pb::NodeProto* n = nullptr;
  switch (l.activation) {
    case ir::Activation::kLinear: n = node("Identity", name, {x}, {out}); break;
    case ir::Activation::kRelu: n = node("Relu", name, {x}, {out}); break;
    case ir::Activation::kTanh: n = node("Tanh", name, {x}, {out}); break;
    case ir::Activation::kSigmoid: n = node("Sigmoid", name, {x}, {out}); break;
    case ir::Activation::kSelu: n = node("Selu", name, {x}, {out}); break;
    case ir::Activation::kSoftmax:
      n = node("Softmax", name, {x}, {out});
      set_attr(n, "axis", int64_t{1});  // the channel axis, whatever the rank
      break;
    case ir::Activation::kElu:
      n = node("Elu", name, {x}, {out});
      // snare reads alpha 0 as Elu's default 1.0; leave the attribute out then.
      if (l.alpha != 0.0) {
        set_attr(n, "alpha", static_cast<float>(l.alpha));
        hints.values["alpha"] = format_real(l.alpha);
      }
      break;
    case ir::Activation::kLeakyRelu:
      n = node("LeakyRelu", name, {x}, {out});
      set_attr(n, "alpha", static_cast<float>(l.alpha));
      hints.values["alpha"] = format_real(l.alpha);
      break;
    case ir::Activation::kRelu6:  // opset >= 11: Clip's bounds are (scalar) inputs
      n = node("Clip", name, {x, float_const(name + ".min", 0.0f), float_const(name + ".max", 6.0f)}, {out});
      break;
    case ir::Activation::kSwish: {  // x * Sigmoid(x)
      auto [sn, st] = helper("sigmoid");
      node("Sigmoid", sn, {x}, {st});
      n = node("Mul", name, {x, st}, {out});
      break;
    }
    case ir::Activation::kHardSwish: {  // HardSwish is opset 14; x * HardSigmoid(x) with alpha 1/6, beta 1/2
      auto [hn, ht] = helper("hard_sigmoid");
      pb::NodeProto* h = node("HardSigmoid", hn, {x}, {ht});
      set_attr(h, "alpha", 1.0f / 6.0f);
      set_attr(h, "beta", 0.5f);
      n = node("Mul", name, {x, ht}, {out});
      break;
    }
    case ir::Activation::kGelu: {  // Gelu is opset 20; exact: x * 0.5 * (1 + erf(x / sqrt(2)))
      auto [dn, dt] = helper("div");
      auto [en, et] = helper("erf");
      auto [pn, pt] = helper("add");
      auto [mn, mt] = helper("mul");
      node("Div", dn, {x, float_const(name + ".sqrt2", 1.41421356237309515f)}, {dt});
      node("Erf", en, {dt}, {et});
      node("Add", pn, {et, float_const(name + ".one", 1.0f)}, {pt});
      node("Mul", mn, {x, pt}, {mt});
      n = node("Mul", name, {mt, float_const(name + ".half", 0.5f)}, {out});
      break;
    }
    case ir::Activation::kSoftplus: n = node("Softplus", name, {x}, {out}); break;
    case ir::Activation::kSoftsign: n = node("Softsign", name, {x}, {out}); break;
    case ir::Activation::kExponential: n = node("Exp", name, {x}, {out}); break;
    case ir::Activation::kHardSigmoid:  // Keras 2's clip(0.2x + 0.5, 0, 1): ONNX HardSigmoid's defaults, written out
      n = node("HardSigmoid", name, {x}, {out});
      set_attr(n, "alpha", 0.2f);
      set_attr(n, "beta", 0.5f);
      break;
  }
  n->set_doc_string(hints.text());
}

void Writer::merge(const Layer& l) {
  std::vector<std::string> inputs;
  for (size_t i = 0; i < l.inputs.size(); ++i) inputs.push_back(in(l, i));
  const char* op = "";
  switch (l.kind) {
    case LayerKind::kAdd: op = inputs.size() == 2 ? "Add" : "Sum"; break;
    case LayerKind::kSubtract: op = "Sub"; break;
    case LayerKind::kAverage: op = "Mean"; break;
    case LayerKind::kMaximum: op = "Max"; break;
    case LayerKind::kMinimum: op = "Min"; break;
    case LayerKind::kMultiply: {  // Mul takes two operands
      std::string acc = inputs[0];
      for (size_t i = 1; i + 1 < inputs.size(); ++i) {
        std::string t = tensor_name(l.name + "/product" + std::to_string(i));
        node("Mul", node_name(l.name + "/mul" + std::to_string(i)), {acc, inputs[i]}, {t});
        acc = t;
      }
      node("Mul", l.name, {acc, inputs.back()}, {output_of(l)});
      return;
    }
    default: throw InternalError("io/onnx writer: merge() on a layer that is not a merge");
  }
  node(op, l.name, inputs, {output_of(l)});
}

void Writer::separable(const Layer& l) {
  const size_t dims = l.kernel.size();
  const int64_t channels = in_shape(l).at(0);
  std::string depth = tensor_name(l.name + "/depthwise_out");
  pb::NodeProto* d =
      node("Conv", node_name(l.name + "/depthwise"), {in(l), weight(l, "depthwise", l.weights.at("depthwise"))}, {depth});
  set_attr(d, "kernel_shape", l.kernel);
  set_attr(d, "strides", l.strides.empty() ? Shape(dims, 1) : l.strides);
  set_attr(d, "dilations", l.dilation.empty() ? Shape(dims, 1) : l.dilation);
  set_attr(d, "pads", onnx_pads(l, in_shape(l)));
  set_attr(d, "group", channels);
  Hints hints;
  hints.values["separable"] = "";
  if (l.padding == ir::Padding::kSame) hints.values["padding"] = "same";
  d->set_doc_string(hints.text());
  std::vector<std::string> inputs{depth, weight(l, "weight", l.weights.at("weight"))};
  if (l.use_bias) inputs.push_back(weight(l, "bias", l.weights.at("bias")));
  std::string pre = l.activation == ir::Activation::kLinear ? output_of(l) : tensor_name(l.name + "/linear");
  pb::NodeProto* p = node("Conv", l.name, inputs, {pre});
  set_attr(p, "kernel_shape", Shape(dims, 1));
  if (l.activation != ir::Activation::kLinear) {
    activation(l, pre, output_of(l), node_name(l.name + "/" + ir::activation_name(l.activation)), false);
  }
}

void Writer::conv(const Layer& l, int64_t group) {
  std::vector<std::string> inputs{in(l), weight(l, "weight", l.weights.at("weight"))};
  if (l.use_bias) inputs.push_back(weight(l, "bias", l.weights.at("bias")));
  std::string pre = l.activation == ir::Activation::kLinear ? output_of(l) : tensor_name(l.name + "/linear");
  size_t dims = l.kernel.size();
  pb::NodeProto* n = node("Conv", l.name, inputs, {pre});
  set_attr(n, "kernel_shape", l.kernel);
  set_attr(n, "strides", l.strides.empty() ? Shape(dims, 1) : l.strides);
  set_attr(n, "dilations", l.dilation.empty() ? Shape(dims, 1) : l.dilation);
  set_attr(n, "pads", onnx_pads(l, in_shape(l)));
  set_attr(n, "group", group);
  Hints hints;
  if (l.padding == ir::Padding::kSame) hints.values["padding"] = "same";
  // With one input channel a depthwise conv is group = 1, like a plain conv: the hint tells them apart.
  if (l.kind == LayerKind::kDepthwiseConv2D && group == 1) hints.values["depthwise"] = "";
  // A 2-D conv with one group per input channel computes a depthwise conv; the hint keeps the ir kind.
  if (l.kind == LayerKind::kConv2D && group > 1 && group == in_shape(l).at(0)) hints.values["grouped"] = "";
  n->set_doc_string(hints.text());
  if (l.activation != ir::Activation::kLinear) {
    activation(l, pre, output_of(l), node_name(l.name + "/" + ir::activation_name(l.activation)), false);
  }
}

void Writer::recurrent(const Layer& l) {
  // ir (C, L) per sample -> ONNX [L, N, C]. Y [L,dirs,N,U] or Y_h [dirs,N,U] back to ir (U', L) / (U'):
  //   one direction:  Y -> Squeeze(1) -> [L,N,U] -> Transpose(1,2,0);  Y_h -> Squeeze(0)
  //   concat:         Y -> Transpose(0,2,1,3) -> Reshape(0,0,-1) -> [L,N,2U] -> Transpose(1,2,0);
  //                   Y_h -> Transpose(1,0,2) -> Reshape(0,-1)  (LibTorch's export of a bidirectional RNN)
  //   sum, ave, mul:  ReduceSum / ReduceMean / ReduceProd over the direction axis (keepdims=0)
  // ONNX's backward direction already gives Y in input time order, as Keras' Bidirectional does after its flip.
  const LayerKind kind = l.kind;
  std::string seq = tensor_name(l.name + "/time_major");
  pb::NodeProto* tr = node("Transpose", node_name(l.name + "/to_time_major"), {in(l)}, {seq});
  set_attr(tr, "perm", std::vector<int64_t>{2, 0, 1});
  std::vector<at::Tensor> w, r, b;
  for (bool reverse : {false, true}) {
    if (reverse && !l.bidirectional) break;
    std::vector<std::string> names = ir::recurrent_weight_names(l, reverse);
    w.push_back(gates_to_onnx(l.weights.at(names[0]), kind));
    r.push_back(gates_to_onnx(l.weights.at(names[1]), kind));
    if (l.use_bias) b.push_back(at::cat({gates_to_onnx(l.weights.at(names[2]), kind), gates_to_onnx(l.weights.at(names[3]), kind)}));
  }
  std::vector<std::string> inputs{seq, weight(l, "W", at::stack(w)), weight(l, "R", at::stack(r))};
  if (l.use_bias) inputs.push_back(weight(l, "B", at::stack(b)));
  std::string y = tensor_name(l.name + (l.return_sequences ? "/Y" : "/Y_h"));
  pb::NodeProto* n = node(recurrent_op(kind), l.name, inputs,
                          l.return_sequences ? std::vector<std::string>{y} : std::vector<std::string>{"", y});
  set_attr(n, "hidden_size", l.units);
  const int64_t dirs = l.bidirectional ? 2 : 1;
  if (l.bidirectional) set_attr(n, "direction", std::string("bidirectional"));
  // Per direction: LSTM (f, g, h) = (gates, cell, output), written only where the gates differ from the default
  // sigmoid; GRU (f, g) = (gates, cell); RNN (g).
  std::vector<std::string> acts;
  for (int64_t d = 0; d < dirs; ++d) {
    if (kind == LayerKind::kLSTM && l.recurrent_activation != ir::Activation::kSigmoid) {
      acts.insert(acts.end(), {recurrent_activation_to_onnx(l.recurrent_activation, l.name), "Tanh", "Tanh"});
    }
    if (kind == LayerKind::kGRU) acts.push_back(recurrent_activation_to_onnx(l.recurrent_activation, l.name));
    if (kind != LayerKind::kLSTM) acts.push_back(recurrent_activation_to_onnx(l.activation, l.name));
  }
  if (!acts.empty()) set_attr(n, "activations", acts);
  if (kind == LayerKind::kGRU) set_attr(n, "linear_before_reset", int64_t{l.reset_after ? 1 : 0});
  if (kind == LayerKind::kLSTM && l.activation != ir::Activation::kTanh) {
    n->set_doc_string(fmt::format("snare: activation={}", ir::activation_name(l.activation)));
  }
  // Y_h [dirs,N,U] -> [N,dirs*U] / Y [L,dirs,N,U] -> [L,N,dirs*U] (concat), or the two directions reduced.
  const std::string out_last = l.return_sequences ? tensor_name(l.name + "/merged") : output_of(l);
  const int64_t dir_axis = l.return_sequences ? 1 : 0;
  if (!l.bidirectional) {
    node("Squeeze", node_name(l.name + "/squeeze"), {y, ints_const(l.name + ".squeeze_axes", {dir_axis})}, {out_last});
  } else if (l.merge_mode == ir::MergeMode::kConcat) {
    std::string dirs_last = tensor_name(l.name + "/directions_last");
    pb::NodeProto* t = node("Transpose", node_name(l.name + "/directions_last"), {y}, {dirs_last});
    set_attr(t, "perm", l.return_sequences ? std::vector<int64_t>{0, 2, 1, 3} : std::vector<int64_t>{1, 0, 2});
    std::vector<int64_t> shape = l.return_sequences ? std::vector<int64_t>{0, 0, -1} : std::vector<int64_t>{0, -1};
    node("Reshape", node_name(l.name + "/concat"), {dirs_last, ints_const(l.name + ".concat_shape", shape)}, {out_last});
  } else {
    const char* op = l.merge_mode == ir::MergeMode::kSum ? "ReduceSum" : l.merge_mode == ir::MergeMode::kAve ? "ReduceMean" : "ReduceProd";
    std::string merge_name = node_name(l.name + "/" + ir::merge_mode_name(l.merge_mode));
    // Opset 13's ReduceSum takes its axes as an input; ReduceMean and ReduceProd still as an attribute.
    pb::NodeProto* m = l.merge_mode == ir::MergeMode::kSum
                           ? node(op, merge_name, {y, ints_const(l.name + ".direction_axis", {dir_axis})}, {out_last})
                           : node(op, merge_name, {y}, {out_last});
    if (l.merge_mode != ir::MergeMode::kSum) set_attr(m, "axes", std::vector<int64_t>{dir_axis});
    set_attr(m, "keepdims", int64_t{0});
  }
  if (l.return_sequences) {
    pb::NodeProto* back = node("Transpose", node_name(l.name + "/to_channels_first"), {out_last}, {output_of(l)});
    set_attr(back, "perm", std::vector<int64_t>{1, 2, 0});
  }
}

void Writer::layer(const Layer& l) {
  // Dense and Conv end in their fused activation: the principal node writes a pre-activation tensor.
  auto principal_out = [&]() {
    return l.activation == ir::Activation::kLinear ? output_of(l) : tensor_name(l.name + "/linear");
  };
  auto finish_activation = [&](const std::string& pre) {
    if (l.activation == ir::Activation::kLinear) return;
    activation(l, pre, output_of(l), node_name(l.name + "/" + ir::activation_name(l.activation)), false);
  };
  switch (l.kind) {
    case LayerKind::kInput: tensor_[l.name] = input_tensor_; return;
    case LayerKind::kDense: {
      auto fold = dense_from_fold_.find(l.name);
      at::Tensor w = l.weights.at("weight");
      if (fold != dense_from_fold_.end()) w = reorder_flatten_columns(w, fold->second, true);
      std::vector<std::string> inputs{in(l), weight(l, "weight", w)};
      if (l.use_bias) inputs.push_back(weight(l, "bias", l.weights.at("bias")));
      std::string pre = principal_out();
      pb::NodeProto* n = node("Gemm", l.name, inputs, {pre});
      set_attr(n, "transB", int64_t{1});
      finish_activation(pre);
      return;
    }
    case LayerKind::kConv1D:
    case LayerKind::kConv2D: conv(l, l.groups); return;
    // ONNX Conv with group = C: weight [C*M, 1, kh, kw], output o reads input channel o / M (the ir layout).
    case LayerKind::kDepthwiseConv2D: conv(l, in_shape(l).at(0)); return;
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D: separable(l); return;
    case LayerKind::kMaxPool1D:
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool1D:
    case LayerKind::kAvgPool2D: {
      bool max = l.kind == LayerKind::kMaxPool1D || l.kind == LayerKind::kMaxPool2D;
      pb::NodeProto* n = node(max ? "MaxPool" : "AveragePool", l.name, {in(l)}, {output_of(l)});
      set_attr(n, "kernel_shape", l.kernel);
      set_attr(n, "strides", l.strides.empty() ? l.kernel : l.strides);
      set_attr(n, "pads", onnx_pads(l, in_shape(l)));
      // Keras averages over real pixels only, as ONNX does without count_include_pad.
      if (!max) set_attr(n, "count_include_pad", int64_t{0});
      if (l.padding == ir::Padding::kSame) n->set_doc_string("snare: padding=same");
      return;
    }
    case LayerKind::kGlobalAvgPool1D:
    case LayerKind::kGlobalAvgPool2D:
    case LayerKind::kGlobalMaxPool1D:
    case LayerKind::kGlobalMaxPool2D: {
      bool max = l.kind == LayerKind::kGlobalMaxPool1D || l.kind == LayerKind::kGlobalMaxPool2D;
      if (l.keepdims) {  // ONNX's global pools keep the pooled axes as 1 themselves
        node(max ? "GlobalMaxPool" : "GlobalAveragePool", l.name, {in(l)}, {output_of(l)});
        return;
      }
      std::string kept = tensor_name(l.name + "/keepdims");
      node(max ? "GlobalMaxPool" : "GlobalAveragePool", l.name, {in(l)}, {kept});
      pb::NodeProto* f = node("Flatten", node_name(l.name + "/flatten"), {kept}, {output_of(l)});
      set_attr(f, "axis", int64_t{1});
      return;
    }
    case LayerKind::kFlatten: {
      bool folded = folded_flattens_.count(l.name) > 0;
      std::string x = folded ? in(l) : channels_last_input(l);
      pb::NodeProto* n = node("Flatten", l.name, {x}, {output_of(l)});
      set_attr(n, "axis", int64_t{1});
      if (folded) {
        n->set_doc_string("snare: channels_last_folded=1");  // the reader restores the layer and its Dense
      } else if (l.channels_last) {
        n->set_doc_string("snare: channels_last=1");
      }
      return;
    }
    case LayerKind::kReshape: {
      std::string x = channels_last_input(l);
      Shape target = l.target_shape;
      bool back = l.channels_last && target.size() >= 2;
      if (back) std::rotate(target.begin(), target.begin() + 1, target.end());
      target.insert(target.begin(), 0);  // 0: keep the batch axis
      std::string out = back ? tensor_name(l.name + "/channels_last_out") : output_of(l);
      pb::NodeProto* n = node("Reshape", l.name, {x, ints_const(l.name + ".shape", target)}, {out});
      n->set_doc_string(l.channels_last ? "snare: channels_last=1 layer" : "snare: layer");
      if (back) {
        pb::NodeProto* tr = node("Transpose", node_name(l.name + "/to_channels_first"), {out}, {output_of(l)});
        set_attr(tr, "perm", to_first_perm(l.output_shape.size()));
      }
      return;
    }
    case LayerKind::kZeroPadding1D:
    case LayerKind::kZeroPadding2D: {
      size_t dims = l.pads.size() / 2;
      std::vector<int64_t> pads(2 * (dims + 2), 0);
      for (size_t i = 0; i < dims; ++i) {
        pads[2 + i] = l.pads[2 * i];
        pads[dims + 4 + i] = l.pads[2 * i + 1];
      }
      pb::NodeProto* n = node("Pad", l.name, {in(l), ints_const(l.name + ".pads", pads)}, {output_of(l)});
      set_attr(n, "mode", std::string("constant"));
      return;
    }
    case LayerKind::kDropout: {
      std::string ratio = tensor_name(l.name + ".ratio");
      from_tensor(at::full({}, l.rate, at::kFloat), ratio, graph_->add_initializer());
      pb::NodeProto* n = node("Dropout", l.name, {in(l), ratio}, {output_of(l)});
      n->set_doc_string("snare: rate=" + format_real(l.rate));
      return;
    }
    case LayerKind::kBatchNorm: {
      std::vector<std::string> inputs{in(l)};
      const at::Tensor& mean = l.weights.at("running_mean");
      // ONNX needs scale and B: Keras scale=False / center=False mean gamma 1 / beta 0.
      inputs.push_back(weight(l, "weight", l.use_scale ? l.weights.at("weight") : at::ones_like(mean)));
      inputs.push_back(weight(l, "bias", l.use_bias ? l.weights.at("bias") : at::zeros_like(mean)));
      for (const char* w : {"running_mean", "running_var"}) inputs.push_back(weight(l, w, l.weights.at(w)));
      pb::NodeProto* n = node("BatchNormalization", l.name, inputs, {output_of(l)});
      set_attr(n, "epsilon", static_cast<float>(l.epsilon));
      set_attr(n, "momentum", static_cast<float>(l.momentum));
      // no_scale / no_center: the ir layer has no weight / bias (Keras scale=False / center=False); the reader
      // drops the ones / zeros written for them again.
      n->set_doc_string(fmt::format("snare: epsilon={} momentum={}{}{}", format_real(l.epsilon), format_real(l.momentum),
                                    l.use_scale ? "" : " no_scale", l.use_bias ? "" : " no_center"));
      return;
    }
    case LayerKind::kActivation: activation(l, in(l), output_of(l), l.name, true); return;
    case LayerKind::kAdd:
    case LayerKind::kSubtract:
    case LayerKind::kMultiply:
    case LayerKind::kAverage:
    case LayerKind::kMaximum:
    case LayerKind::kMinimum: merge(l); return;
    case LayerKind::kCropping1D:
    case LayerKind::kCropping2D: {
      // Slice the spatial axes (2, 3) from `before` to size - `after`.
      size_t dims = l.pads.size() / 2;
      const Shape& shape = l.output_shape;
      std::vector<int64_t> starts, ends, axes;
      for (size_t i = 0; i < dims; ++i) {
        starts.push_back(l.pads[2 * i]);
        ends.push_back(l.pads[2 * i] + shape.at(i + 1));
        axes.push_back(static_cast<int64_t>(i) + 2);
      }
      node("Slice", l.name,
           {in(l), ints_const(l.name + ".starts", starts), ints_const(l.name + ".ends", ends),
            ints_const(l.name + ".axes", axes)},
           {output_of(l)});
      return;
    }
    case LayerKind::kUpSampling1D:
    case LayerKind::kUpSampling2D: {
      // Nearest with integer scales and asymmetric coordinates, floor: output i reads input floor(i / scale),
      // which is Keras' repeat.
      std::vector<float> scales{1.0F, 1.0F};
      for (int64_t f : l.scale) scales.push_back(static_cast<float>(f));
      std::string scales_name = tensor_name(l.name + ".scales");
      from_tensor(at::tensor(scales), scales_name, graph_->add_initializer());
      pb::NodeProto* n = node("Resize", l.name, {in(l), "", scales_name}, {output_of(l)});
      set_attr(n, "mode", std::string("nearest"));
      set_attr(n, "coordinate_transformation_mode", std::string("asymmetric"));
      set_attr(n, "nearest_mode", std::string("floor"));
      return;
    }
    case LayerKind::kConcatenate: {
      std::vector<std::string> inputs;
      for (size_t i = 0; i < l.inputs.size(); ++i) inputs.push_back(in(l, i));
      pb::NodeProto* n = node("Concat", l.name, inputs, {output_of(l)});
      set_attr(n, "axis", l.axis + 1);
      return;
    }
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: recurrent(l); return;
    case LayerKind::kPermute: {
      std::vector<int64_t> perm{0};  // the batch axis stays first
      for (int64_t p : l.permutation) perm.push_back(p + 1);
      pb::NodeProto* n = node("Transpose", l.name, {in(l)}, {output_of(l)});
      set_attr(n, "perm", perm);
      Hints hints;
      hints.values["permute"] = "";  // a layer, not a layout change: the reader keeps it as one
      n->set_doc_string(hints.text());
      return;
    }
  }
  throw InternalError("io/onnx writer: unknown layer kind");
}

pb::ModelProto Writer::build() {
  g_.infer_shapes();
  model_.set_ir_version(kIrVersion);
  model_.set_producer_name("snare");
  model_.set_producer_version(kVersion);
  auto* opset = model_.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  graph_ = model_.mutable_graph();
  graph_->set_name(g_.name.empty() ? "snare" : g_.name);
  tensors_.insert("input");
  for (const Layer& l : g_.layers) layer_names_.insert(l.name);
  plan_flatten_folds();
  input_tensor_ = preprocess();
  std::map<std::string, std::string> props;
  for (const auto& [k, v] : g_.meta) {
    // Facts about the file snare read are not facts about this one.
    if (k != "format" && k.rfind("onnx.", 0) != 0) props[k] = v;
  }
  for (const auto& [k, v] : fact_entries(g_)) {
    // Scaling written as nodes is not metadata.
    if (!(wrote_scaling_ && (k == "snare.scale" || k == "snare.mean" || k == "snare.stddev"))) props[k] = v;
  }
  for (const auto& [k, v] : props) {
    auto* p = model_.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  for (const Layer& l : g_.layers) {
    try {
      layer(l);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw InternalError(fmt::format("layer '{}' ({}): {}", l.name, ir::kind_name(l.kind), e.what()));
    }
  }
  std::vector<std::string> outputs = g_.output_names();
  if (outputs.size() == 1 && g_.meta.count("onnx.dropped_tail")) {
    int32_t type = pb::TensorProto::FLOAT;
    Shape shape = g_.layer(outputs[0]).output_shape;
    std::string t = tail(g_.layer(outputs[0]), type, shape);
    value_info(graph_->add_output(), t, shape, type);
    return model_;
  }
  for (const std::string& o : outputs) value_info(graph_->add_output(), tensor_.at(o), g_.layer(o).output_shape);
  return model_;
}

bool Writer::scaling_still_recorded(const std::string& into) const {
  // Compared as the reader wrote it: one value where every channel has the same.
  ir::InputScaling now = g_.input_scaling;
  for (std::vector<double>* v : {&now.mean, &now.stddev}) {
    if (!v->empty() && std::all_of(v->begin(), v->end(), [&](double x) { return x == v->front(); })) v->resize(1);
  }
  const std::string summary = scaling_summary(now);
  return !summary.empty() && summary == into;
}

std::string Writer::preprocess() {
  const Shape& shape = g_.input().input_shape;
  auto pre = g_.meta.find("onnx.preprocess");
  if (pre == g_.meta.end()) {
    value_info(graph_->add_input(), "input", shape);
    return "input";
  }
  auto into = g_.meta.find("onnx.preprocess_into");
  bool scaling = into != g_.meta.end() && scaling_still_recorded(into->second);
  std::string x = "input";
  int32_t input_type = pb::TensorProto::FLOAT;
  for (const FoldedOp& op : parse_folded_ops(pre->second)) {
    std::string lower = op.op;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string out = tensor_name("input/" + lower);
    if (op.op == "Cast") {
      pb::TensorProto::DataType from = pb::TensorProto::FLOAT;
      auto f = op.attrs.find("from");
      if (f != op.attrs.end() && !pb::TensorProto::DataType_Parse(f->second, &from)) {
        throw ModelError(fmt::format("meta onnx.preprocess: unknown element type '{}'", f->second));
      }
      input_type = from;
      pb::NodeProto* n = node("Cast", node_name("input/cast"), {x}, {out});
      set_attr(n, "to", int64_t{pb::TensorProto::FLOAT});
    } else if (scaling) {
      // One value, or one per channel as [C, 1, ...] against [N, C, S...].
      std::vector<int64_t> dims;
      if (op.values.size() != 1) {
        if (static_cast<int64_t>(op.values.size()) != shape.at(0)) {
          throw ModelError(fmt::format("meta onnx.preprocess: {} has {} values for {} channels", op.op, op.values.size(), shape.at(0)));
        }
        dims.assign(shape.size(), 1);
        dims[0] = shape[0];
      }
      std::string c = tensor_name("input/" + lower + ".value");
      from_tensor(at::tensor(op.values, at::kDouble).to(at::kFloat).reshape(dims), c, graph_->add_initializer());
      node(op.op, node_name("input/" + lower), {x, c}, {out});
      wrote_scaling_ = true;
    } else {
      continue;  // folded into the first layer's weights, or the data scaling in meta has changed since
    }
    x = out;
  }
  value_info(graph_->add_input(), "input", shape, input_type);
  return x;
}

std::string Writer::tail(const Layer& out, int32_t& type, Shape& shape) {
  std::string x = tensor_.at(out.name);
  for (const FoldedOp& op : parse_folded_ops(g_.meta.at("onnx.dropped_tail"))) {
    std::string lower = op.op == "ArgMax" ? "argmax" : "cast";
    std::string t = tensor_name(out.name + "/" + lower);
    pb::NodeProto* n = node(op.op, node_name(out.name + "/" + lower), {x}, {t});
    if (op.op == "ArgMax") {
      int64_t keepdims = op.attr("keepdims", 1);
      set_attr(n, "axis", int64_t{1});  // the channel axis of snare's channels-first output
      set_attr(n, "keepdims", keepdims);
      set_attr(n, "select_last_index", op.attr("select_last_index", 0));
      if (keepdims != 0) {
        shape.at(0) = 1;
      } else {
        shape.erase(shape.begin());
      }
      type = pb::TensorProto::INT64;
    } else if (op.op == "Cast") {
      pb::TensorProto::DataType to = pb::TensorProto::FLOAT;
      auto it = op.attrs.find("to");
      if (it == op.attrs.end() || !pb::TensorProto::DataType_Parse(it->second, &to)) {
        throw ModelError(fmt::format("meta onnx.dropped_tail: Cast without a known 'to' type"));
      }
      set_attr(n, "to", int64_t{to});
      type = to;
    } else {
      throw ModelError(fmt::format("meta onnx.dropped_tail: unexpected op '{}'", op.op));
    }
    x = t;
  }
  return x;
}

}  // namespace

void write_onnx(const ir::Graph& graph, const std::string& path) {
  pb::ModelProto model;
  try {
    ir::verify(graph);
    model = Writer(graph).build();
    ::ONNX_NAMESPACE::checker::check_model(model);
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(fmt::format("{}: cannot export model '{}': {}", path, graph.name, e.what()));
  } catch (const ModelError& e) {
    throw ModelError(fmt::format("{}: cannot export model '{}': {}", path, graph.name, e.what()));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InternalError(fmt::format("{}: exported model '{}' fails the ONNX checker: {}", path, graph.name, e.what()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw InternalError(fmt::format("{}: protobuf serialisation failed", path));
  write_text_atomically(path, bytes);
}

}  // namespace snare::io::onnx
