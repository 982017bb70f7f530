// ONNX -> ir. The reader walks the (topologically sorted) nodes once and keeps, for every ONNX tensor,
// either a constant (initializers, Constant nodes, folded constant expressions) or a Value: the ir
// layer whose output it holds and the layout in which the ONNX tensor holds it. Transposes between
// NCHW and NHWC only change the layout, so the ir stays channels-first whatever the exporter did.
//
// Private to io/onnx's reader: the Layout and Value it keeps per ONNX tensor, the small helpers and the Reader
// class that its files share. reader.cpp loads and checks the file, holds the op table and drives the one pass
// over the nodes; reader_prepost.cpp makes the graph's input and outputs (and folds the input's preprocessing and
// the output's tail); reader_layers.cpp, reader_shapes.cpp and reader_recurrent.cpp map the ops.
#pragma once

#include <ATen/core/Tensor.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "io/onnx/proto.h"
#include "ir/graph.h"

namespace snare::io::onnx::reading {

using namespace detail;
using ir::Layer;
using ir::LayerKind;
using ir::Shape;

/// How an ONNX tensor holds its ir layer's output (per sample, ir shape (C, S...)).
enum class Layout {
  kFirst,     ///< [N, C, S...]: the ir layout itself
  kLast,      ///< [N, S..., C]: the NHWC form
  kKeepDims,  ///< [N, C, 1, ...]: a global pool with its spatial axes kept
  kTime,      ///< [L, N, C]: ONNX LSTM/GRU/RNN input order (ir (C, L))
  kLstmY,     ///< [L, dirs, N, U]: LSTM/GRU/RNN output Y (dirs 2 for a bidirectional layer)
  kLstmYh,    ///< [dirs, N, U]: LSTM/GRU/RNN output Y_h
  kYDirsLast,   ///< [L, N, 2, U]: a bidirectional Y with the direction axis moved next to U (before a concat Reshape)
  kYhDirsLast,  ///< [N, 2, U]: a bidirectional Y_h so
  // A 1-D ir value (C, L) unsqueezed to 2-D, as tf2onnx writes Keras Conv1D / MaxPool1D (Unsqueeze ->
  // Conv/MaxPool with a unit spatial axis -> Squeeze), channels-first or channels-last:
  kFirstUnitH,  ///< [N, C, 1, L]
  kFirstUnitW,  ///< [N, C, L, 1]
  kLastUnitH,   ///< [N, 1, L, C]
  kLastUnitW,   ///< [N, L, 1, C]
};

const char* layout_name(Layout l);

inline bool is_unit(Layout l) {
  return l == Layout::kFirstUnitH || l == Layout::kFirstUnitW || l == Layout::kLastUnitH || l == Layout::kLastUnitW;
}
/// The ONNX axis of the unit spatial axis of a 1-D-as-2-D layout.
inline int64_t unit_axis(Layout l) { return l == Layout::kFirstUnitH ? 2 : l == Layout::kFirstUnitW ? 3 : l == Layout::kLastUnitH ? 1 : 2; }
/// The 1-D layout a 1-D-as-2-D layout squeezes back to.
inline Layout squeezed(Layout l) { return l == Layout::kFirstUnitH || l == Layout::kFirstUnitW ? Layout::kFirst : Layout::kLast; }
/// Layouts whose values an elementwise op (activation) maps one to one.
inline bool elementwise_ok(Layout l) { return l == Layout::kFirst || l == Layout::kLast || is_unit(l); }
/// The ONNX channel axis of a tensor of `rank` held in `l` (kFirst, kLast and the 1-D-as-2-D forms).
inline int64_t channel_axis(Layout l, int64_t rank) {
  return l == Layout::kLast || l == Layout::kLastUnitH || l == Layout::kLastUnitW ? rank - 1 : 1;
}

struct Value {
  std::string layer;
  Layout layout = Layout::kFirst;
};

/// The product of the dims, saturated at int64's maximum (dims come from the file).
inline int64_t product(const Shape& s) {
  int64_t p = 1;
  for (int64_t d : s) {
    if (__builtin_mul_overflow(p, d, &p)) return std::numeric_limits<int64_t>::max();
  }
  return p;
}

/// (C, S...) -> (S..., C)
inline Shape rotate_to_last(Shape s) {
  if (s.size() >= 2) std::rotate(s.begin(), s.begin() + 1, s.end());
  return s;
}
/// (S..., C) -> (C, S...)
inline Shape rotate_to_first(Shape s) {
  if (s.size() >= 2) std::rotate(s.begin(), s.end() - 1, s.end());
  return s;
}

/// Perm of an ONNX tensor of `rank` that takes NCHW to NHWC, and its inverse.
inline std::vector<int64_t> perm_to_last(int64_t rank) {
  std::vector<int64_t> p{0};
  for (int64_t i = 2; i < rank; ++i) p.push_back(i);
  p.push_back(1);
  return p;
}
inline std::vector<int64_t> perm_to_first(int64_t rank) {
  std::vector<int64_t> p{0, rank - 1};
  for (int64_t i = 1; i < rank - 1; ++i) p.push_back(i);
  return p;
}

/// True when moving the channel axis of (C, S...) to the end keeps the element order (all but one
/// of C and the spatial extent are 1), so NCHW and NHWC hold the same bytes.
inline bool layouts_agree(const Shape& s) {
  if (s.size() <= 1) return true;
  return s[0] == 1 || product(s) == s[0];
}

inline std::string ints(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }

/// The tensors of initializers and tensor-valued Constant nodes, by name (for the pattern finders, which run
/// before the constants are converted).
std::map<std::string, const pb::TensorProto*> constant_protos(const pb::GraphProto& g);

class Reader;
using MapFn = void (Reader::*)(const pb::NodeProto&);

class Reader {
 public:
  /// Reads the file at `path`, or `bytes` when given (then `path` only names them in messages).
  explicit Reader(std::string path, std::optional<std::string> bytes = std::nullopt)
      : path_(std::move(path)), bytes_(std::move(bytes)) {}
  ir::Graph read();

  // One mapping function per supported op (see kOps).
  void map_add(const pb::NodeProto& n);
  void map_activation(const pb::NodeProto& n);
  void map_batchnorm(const pb::NodeProto& n);
  void map_cast(const pb::NodeProto& n);
  void map_clip(const pb::NodeProto& n);
  void map_concat(const pb::NodeProto& n);
  void map_constant(const pb::NodeProto& n);
  void map_conv(const pb::NodeProto& n);
  void map_dense(const pb::NodeProto& n);
  void map_dropout(const pb::NodeProto& n);
  void map_flatten(const pb::NodeProto& n);
  void map_gather(const pb::NodeProto& n);
  void map_global_pool(const pb::NodeProto& n);
  void map_identity(const pb::NodeProto& n);
  void map_recurrent(const pb::NodeProto& n);
  /// ReduceSum / ReduceMean / ReduceProd over the direction axis of a bidirectional output: its merge mode.
  void map_direction_reduce(const pb::NodeProto& n);
  void map_pad(const pb::NodeProto& n);
  void map_pool(const pb::NodeProto& n);
  void map_reduce(const pb::NodeProto& n);
  void map_reshape(const pb::NodeProto& n);
  void map_shape(const pb::NodeProto& n);
  void map_squeeze(const pb::NodeProto& n);
  void map_sum(const pb::NodeProto& n);
  /// Sub, Mul, Mean, Max, Min of data tensors: the ir element-wise merges.
  void map_merge(const pb::NodeProto& n);
  /// Slice of spatial axes with steps 1: Cropping1D/2D.
  void map_slice(const pb::NodeProto& n);
  /// Resize / nearest with integer scales that repeat each value: UpSampling1D/2D.
  void map_resize(const pb::NodeProto& n);
  /// A 1x1 Conv reading a depthwise Conv that snare wrote as a SeparableConv's first half: both become that layer.
  bool fuse_separable(const pb::NodeProto& n, Layer& pointwise);
  void map_transpose(const pb::NodeProto& n);
  void map_unsqueeze(const pb::NodeProto& n);

 private:
  /// An activation that ONNX spells as several nodes (x * Sigmoid(x), the erf form of GELU, ...): found
  /// before mapping, mapped at its last node; the other nodes are skipped.
  struct Composite {
    ir::Activation activation = ir::Activation::kLinear;
    std::string x;            ///< the data tensor the activation applies to
    int reads_of_x = 0;       ///< how many node inputs of the pattern read x (one use of x in all)
  };

  /// One elementwise step between the graph input and the first layer (Cast to float, Mul/Div/Add/Sub by
  /// a constant): the model's input scaling, folded into meta or the first layer (see fold_preprocess).
  struct PreStep {
    int node = 0;
    FoldedOp op;
    at::Tensor constant;  ///< Mul/Div/Add/Sub: the constant operand as the file broadcasts it
  };

  void load();
  void sort_nodes();
  void find_composites();
  /// Finds the preprocessing chain on the graph input (PreStep) and the tail after the single output
  /// (ArgMax and/or Cast), whose nodes are then not mapped.
  void find_preprocess();
  void find_tail();
  /// Records the preprocessing as the model's input scaling (snare.scale / snare.mean / snare.stddev) or
  /// folds it into the first layer's weights; UnsupportedError with the reason when neither is exact.
  void fold_preprocess();
  /// meta["onnx.dropped_tail"] for output `output`, whose logits are `v`; UnsupportedError where the writer
  /// could not put the tail back as it was.
  void describe_tail(const std::string& output, const Value& v);
  void fold_scaling_into_weights(const std::vector<double>& a, const std::vector<double>& b, const std::string& steps);
  /// 1-D-as-2-D Conv/pool node on a unit layout: the same node with 1-D attributes and weight, reading a
  /// channels-first alias of its input; `map` maps it and the output gets the unit layout back.
  void map_unit_window(const pb::NodeProto& n, MapFn map);
  void check();
  void reject_unsupported();
  void collect_constants_and_uses();
  void make_input();
  void make_outputs();
  /// Restores the channels-last Flattens the writer folded into Dense weights (see writer.cpp).
  void unfold_flattens();
  bool fold_constant(const pb::NodeProto& n);
  /// The sorted, non-negative `axes` of Squeeze / Unsqueeze / Reduce*: an attribute before opset `input_since`,
  /// the optional constant input 1 from then on; `rank` is the rank they index.
  std::vector<int64_t> axes_of(const pb::NodeProto& n, int64_t input_since, int64_t rank) const;

  std::string node_where(const pb::NodeProto& n) const {
    return fmt::format("{}: node '{}' ({})", path_, n.name().empty() ? n.output(0) : n.name(), n.op_type());
  }
  [[noreturn]] void model_error(const pb::NodeProto& n, const std::string& what) const {
    throw ModelError(node_where(n) + ": " + what);
  }
  [[noreturn]] void unsupported(const pb::NodeProto& n, const std::string& what) const {
    throw UnsupportedError(node_where(n) + ": " + what);
  }
  /// A window attribute (kernel_shape, strides, dilations) of `dims` values, or `fallback` when absent. Their range
  /// was checked in check(), for every node, before ONNX's shape inference.
  Shape window_attr(const pb::NodeProto& n, const char* name, size_t dims, const Shape& fallback) const {
    std::optional<Shape> v = attr_ints(n, name);
    if (!v) return fallback;
    if (v->size() != dims) model_error(n, fmt::format("{} {} has {} values, expected {}", name, ints(*v), v->size(), dims));
    return *v;
  }

  bool is_const(const std::string& name) const { return constants_.count(name) > 0; }
  bool present(const pb::NodeProto& n, int i) const { return n.input_size() > i && !n.input(i).empty(); }
  const at::Tensor& constant(const pb::NodeProto& n, int i) const;
  const Value& value(const pb::NodeProto& n, int i) const;
  /// The Value of data tensor `tensor`, read by node `n`.
  const Value& value_of(const pb::NodeProto& n, const std::string& tensor) const;
  const Shape& shape_of(const std::string& layer) const { return graph_.layer(layer).output_shape; }
  /// The per-sample shape of the ONNX tensor holding `v` (batch axis removed; for the LSTM layouts
  /// the batch axis is not the first).
  Shape onnx_shape(const Value& v) const;
  int64_t onnx_rank(const Value& v) const { return static_cast<int64_t>(onnx_shape(v).size()) + 1; }
  /// kLast on a rank <= 1 ir shape is the same as kFirst: normalise so comparisons are simple.
  Value normal(Value v) const;
  /// Channels-first or channels-last data, as required by the ops that only understand those.
  const Value& plain_value(const pb::NodeProto& n, int i) const;
  /// Appends every input's layer to `l.inputs` (Add, Concat); all must share one layout, returned.
  Layout operands(const pb::NodeProto& n, Layer& l) const;

  /// Appends a layer named after the node (unique), fills its shape, and returns its name.
  std::string add_layer(Layer layer, const pb::NodeProto& n, const std::string& suffix = "");
  void define(const std::string& tensor, Value v, bool tip);
  /// `tensor` may be changed in place by the next node (bias fold, fused activation): it is the
  /// latest output of its layer and nothing else reads it.
  bool absorbable(const std::string& tensor) const;
  /// Aliases the node's output 0 to input 0's value with layout `layout`.
  void alias(const pb::NodeProto& n, Layout layout);
  /// Applies activation `a` to data tensor `x` for node `n` (whose output receives the result): fused
  /// into the Dense/Conv producing x where nothing else reads x, else an ir Activation layer.
  void place_activation(const pb::NodeProto& n, const std::string& x, ir::Activation a, double alpha);

  /// Explicit ONNX pads -> ir padding for a conv or pool: kValid, kSame, or an inserted ZeroPadding
  /// layer (returned name replaces the input) when `zero_pad_ok`.
  ir::Padding resolve_padding(const pb::NodeProto& n, const Layer& window, std::string& input, bool zero_pad_ok,
                              bool same_ok);

  std::string path_;
  std::optional<std::string> bytes_;
  pb::ModelProto model_;
  int64_t opset_ = 0;
  int64_t fixed_batch_ = -1;
  std::map<std::string, at::Tensor> constants_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> uses_;          ///< tensor -> node inputs + graph outputs reading it
  std::map<std::string, std::string> tip_;   ///< layer -> its latest ONNX tensor
  std::set<std::string> names_;
  std::vector<std::string> folded_flattens_;  ///< snare-written Flattens whose order is in their Dense weights
  std::set<std::string> separable_depthwise_;  ///< depthwise layers of snare-written SeparableConvs (hint)
  std::map<int, Composite> composites_;       ///< node index of a composite's last node -> the composite
  std::set<int> inside_composites_;           ///< the other nodes of composites (not mapped)
  std::vector<PreStep> pre_;                  ///< the input's preprocessing chain, in order
  std::string pre_end_;                       ///< the tensor after it (the graph input when there is none)
  std::vector<int> tail_nodes_;               ///< ArgMax / Cast nodes after the single output, output first
  std::string tail_start_;                    ///< the tensor the tail reads (the logits)
  std::set<int> folded_nodes_;                ///< nodes of pre_ and of the tail (not mapped)
  Layout input_layout_ = Layout::kFirst;
  std::set<std::string> batch_dependent_;     ///< constants computed from a Shape (holding kBatchDim)
  ir::Graph graph_;
};

}  // namespace snare::io::onnx::reading
