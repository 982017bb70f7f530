// ONNX -> ir. The reader walks the (topologically sorted) nodes once and keeps, for every ONNX tensor,
// either a constant (initializers, Constant nodes, folded constant expressions) or a Value: the ir
// layer whose output it holds and the layout in which the ONNX tensor holds it. Transposes between
// NCHW and NHWC only change the layout, so the ir stays channels-first whatever the exporter did.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <queue>
#include <set>
#include <optional>
#include <sstream>

#include "common/error.h"
#include "io/facts.h"
#include "io/file_named.h"
#include "io/onnx/onnx.h"
#include "io/onnx/proto.h"
#include "io/onnx/recurrent.h"
#include "ir/limits.h"

namespace snare::io::onnx {

using namespace detail;
using ir::Layer;
using ir::LayerKind;
using ir::Shape;

namespace {

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

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kFirst: return "channels-first";
    case Layout::kLast: return "channels-last";
    case Layout::kKeepDims: return "keepdims";
    case Layout::kTime: return "time-major";
    case Layout::kLstmY: return "recurrent Y";
    case Layout::kLstmYh: return "recurrent Y_h";
    case Layout::kYDirsLast: return "recurrent Y [L,N,dirs,U]";
    case Layout::kYhDirsLast: return "recurrent Y_h [N,dirs,U]";
    case Layout::kFirstUnitH: return "1-D as [N,C,1,L]";
    case Layout::kFirstUnitW: return "1-D as [N,C,L,1]";
    case Layout::kLastUnitH: return "1-D as [N,1,L,C]";
    case Layout::kLastUnitW: return "1-D as [N,L,1,C]";
  }
  return "?";
}

bool is_unit(Layout l) {
  return l == Layout::kFirstUnitH || l == Layout::kFirstUnitW || l == Layout::kLastUnitH || l == Layout::kLastUnitW;
}
/// The ONNX axis of the unit spatial axis of a 1-D-as-2-D layout.
int64_t unit_axis(Layout l) { return l == Layout::kFirstUnitH ? 2 : l == Layout::kFirstUnitW ? 3 : l == Layout::kLastUnitH ? 1 : 2; }
/// The 1-D layout a 1-D-as-2-D layout squeezes back to.
Layout squeezed(Layout l) { return l == Layout::kFirstUnitH || l == Layout::kFirstUnitW ? Layout::kFirst : Layout::kLast; }
/// Layouts whose values an elementwise op (activation) maps one to one.
bool elementwise_ok(Layout l) { return l == Layout::kFirst || l == Layout::kLast || is_unit(l); }
/// The ONNX channel axis of a tensor of `rank` held in `l` (kFirst, kLast and the 1-D-as-2-D forms).
int64_t channel_axis(Layout l, int64_t rank) {
  return l == Layout::kLast || l == Layout::kLastUnitH || l == Layout::kLastUnitW ? rank - 1 : 1;
}

/// Stands for the batch size in shape tensors computed from Shape (PyTorch's x.view(x.size(0), -1)): a
/// Reshape reads it as "keep the batch axis".
constexpr int64_t kBatchDim = std::numeric_limits<int64_t>::min() / 2;

struct Value {
  std::string layer;
  Layout layout = Layout::kFirst;
};

/// The product of the dims, saturated at int64's maximum (dims come from the file).
int64_t product(const Shape& s) {
  int64_t p = 1;
  for (int64_t d : s) {
    if (__builtin_mul_overflow(p, d, &p)) return std::numeric_limits<int64_t>::max();
  }
  return p;
}

/// (C, S...) -> (S..., C)
Shape rotate_to_last(Shape s) {
  if (s.size() >= 2) std::rotate(s.begin(), s.begin() + 1, s.end());
  return s;
}
/// (S..., C) -> (C, S...)
Shape rotate_to_first(Shape s) {
  if (s.size() >= 2) std::rotate(s.begin(), s.end() - 1, s.end());
  return s;
}

/// Perm of an ONNX tensor of `rank` that takes NCHW to NHWC, and its inverse.
std::vector<int64_t> perm_to_last(int64_t rank) {
  std::vector<int64_t> p{0};
  for (int64_t i = 2; i < rank; ++i) p.push_back(i);
  p.push_back(1);
  return p;
}
std::vector<int64_t> perm_to_first(int64_t rank) {
  std::vector<int64_t> p{0, rank - 1};
  for (int64_t i = 1; i < rank - 1; ++i) p.push_back(i);
  return p;
}

/// True when moving the channel axis of (C, S...) to the end keeps the element order (all but one
/// of C and the spatial extent are 1), so NCHW and NHWC hold the same bytes.
bool layouts_agree(const Shape& s) {
  if (s.size() <= 1) return true;
  return s[0] == 1 || product(s) == s[0];
}

/// TensorFlow "same" padding for one axis: the odd pixel goes at the end.
std::pair<int64_t, int64_t> same_pads(int64_t in, int64_t k, int64_t s, int64_t d) {
  int64_t out = (in + s - 1) / s;
  int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
  return {total / 2, total - total / 2};
}

std::string ints(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }

struct OpEntry;
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

struct OpEntry {
  const char* op;
  MapFn map;
};

/// Every ONNX op the reader maps, sorted by name (looked up by binary search).
constexpr OpEntry kOps[] = {
    {"Add", &Reader::map_add},
    {"AveragePool", &Reader::map_pool},
    {"BatchNormalization", &Reader::map_batchnorm},
    {"Cast", &Reader::map_cast},
    {"Clip", &Reader::map_clip},
    {"Concat", &Reader::map_concat},
    {"Constant", &Reader::map_constant},
    {"Conv", &Reader::map_conv},
    {"Dropout", &Reader::map_dropout},
    {"Elu", &Reader::map_activation},
    {"Exp", &Reader::map_activation},
    {"Flatten", &Reader::map_flatten},
    {"GRU", &Reader::map_recurrent},
    {"Gather", &Reader::map_gather},
    {"Gemm", &Reader::map_dense},
    {"GlobalAveragePool", &Reader::map_global_pool},
    {"GlobalMaxPool", &Reader::map_global_pool},
    {"HardSigmoid", &Reader::map_activation},
    {"HardSwish", &Reader::map_activation},
    {"Identity", &Reader::map_identity},
    {"LSTM", &Reader::map_recurrent},
    {"LeakyRelu", &Reader::map_activation},
    {"MatMul", &Reader::map_dense},
    {"Max", &Reader::map_merge},
    {"MaxPool", &Reader::map_pool},
    {"Mean", &Reader::map_merge},
    {"Min", &Reader::map_merge},
    {"Mul", &Reader::map_merge},
    {"Pad", &Reader::map_pad},
    {"RNN", &Reader::map_recurrent},
    {"ReduceMax", &Reader::map_reduce},
    {"ReduceMean", &Reader::map_reduce},
    {"ReduceProd", &Reader::map_reduce},
    {"ReduceSum", &Reader::map_reduce},
    {"Relu", &Reader::map_activation},
    {"Reshape", &Reader::map_reshape},
    {"Resize", &Reader::map_resize},
    {"Selu", &Reader::map_activation},
    {"Shape", &Reader::map_shape},
    {"Sigmoid", &Reader::map_activation},
    {"Slice", &Reader::map_slice},
    {"Softmax", &Reader::map_activation},
    {"Softplus", &Reader::map_activation},
    {"Softsign", &Reader::map_activation},
    {"Squeeze", &Reader::map_squeeze},
    {"Sub", &Reader::map_merge},
    {"Sum", &Reader::map_sum},
    {"Tanh", &Reader::map_activation},
    {"Transpose", &Reader::map_transpose},
    {"Unsqueeze", &Reader::map_unsqueeze},
};

const OpEntry* find_op(const std::string& op) {
  static const bool sorted = std::is_sorted(std::begin(kOps), std::end(kOps), [](const OpEntry& a, const OpEntry& b) {
    return std::string(a.op) < b.op;
  });
  if (!sorted) throw InternalError("io/onnx: op table is not sorted");
  auto it = std::lower_bound(std::begin(kOps), std::end(kOps), op,
                             [](const OpEntry& e, const std::string& name) { return e.op < name; });
  return it != std::end(kOps) && it->op == op ? it : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Loading, sorting, checking

void Reader::load() {
  if (!bytes_) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw ModelError(fmt::format("{}: cannot open ONNX file", path_));
    std::stringstream buffer;
    buffer << in.rdbuf();
    bytes_ = buffer.str();
  }
  const std::string bytes = std::move(*bytes_);
  bytes_.reset();
  if (bytes.empty()) throw ModelError(fmt::format("{}: file is empty, not an ONNX model", path_));
  if (!model_.ParseFromString(bytes)) {
    throw ModelError(fmt::format("{}: not a valid ONNX protobuf ({} bytes; truncated or not an ONNX file)", path_,
                                 bytes.size()));
  }
  if (!model_.has_graph()) throw ModelError(fmt::format("{}: ONNX model has no graph", path_));
  for (const auto& o : model_.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  }
  if (opset_ == 0) throw ModelError(fmt::format("{}: ONNX model imports no default-domain opset", path_));
}

// Exporters may list nodes out of order; the checker insists on topological order, so sort first
// (stable: nodes keep their file order where the data flow allows).
void Reader::sort_nodes() {
  // Kahn's algorithm, always taking the earliest node (in file order) whose inputs are all there: a graph already
  // in order stays as it is, and the work is linear in nodes and edges.
  pb::GraphProto* g = model_.mutable_graph();
  std::set<std::string> ready;
  for (const auto& i : g->input()) ready.insert(i.name());
  for (const auto& t : g->initializer()) ready.insert(t.name());
  ready.insert("");
  const int n = g->node_size();
  std::vector<int> waiting_for(static_cast<size_t>(n), 0);
  std::map<std::string, std::vector<int>> consumers;  // of each tensor not ready yet
  std::priority_queue<int, std::vector<int>, std::greater<int>> runnable;
  for (int i = 0; i < n; ++i) {
    std::set<std::string> missing(g->node(i).input().begin(), g->node(i).input().end());
    for (const std::string& t : missing) {
      if (ready.count(t)) continue;
      consumers[t].push_back(i);
      ++waiting_for[static_cast<size_t>(i)];
    }
    if (waiting_for[static_cast<size_t>(i)] == 0) runnable.push(i);
  }
  std::vector<int> order;
  order.reserve(static_cast<size_t>(n));
  while (!runnable.empty()) {
    const int i = runnable.top();
    runnable.pop();
    order.push_back(i);
    for (const std::string& o : g->node(i).output()) {
      if (!ready.insert(o).second) continue;
      auto it = consumers.find(o);
      if (it == consumers.end()) continue;
      for (int j : it->second) {
        if (--waiting_for[static_cast<size_t>(j)] == 0) runnable.push(j);
      }
    }
  }
  if (static_cast<int>(order.size()) < n) {
    std::vector<bool> placed(static_cast<size_t>(n), false);
    for (int i : order) placed[static_cast<size_t>(i)] = true;
    const int first = static_cast<int>(std::find(placed.begin(), placed.end(), false) - placed.begin());
    const pb::NodeProto& stuck = g->node(first);
    std::vector<std::string> missing;
    for (const auto& i : stuck.input()) {
      if (!ready.count(i)) missing.push_back("'" + i + "'");
    }
    throw ModelError(fmt::format("{}: node '{}' ({}) reads {} which no node, input or initializer produces (or "
                                 "the graph has a cycle)",
                                 path_, stuck.name(), stuck.op_type(), fmt::join(missing, ", ")));
  }
  std::vector<pb::NodeProto> sorted;
  sorted.reserve(static_cast<size_t>(n));
  for (int i : order) sorted.push_back(std::move(*g->mutable_node(i)));
  g->clear_node();
  for (auto& node : sorted) *g->add_node() = std::move(node);
}

void Reader::check() {
  // An op ONNX itself does not define (or one of another domain) is not a broken file but one snare cannot read:
  // exit 4 with the nodes named, before the checker calls it an error of the file.
  std::vector<std::string> unknown;
  for (const pb::NodeProto& n : model_.graph().node()) {
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!default_domain || ::ONNX_NAMESPACE::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(opset_), "") == nullptr) {
      const std::string op = default_domain ? n.op_type() : n.domain() + "." + n.op_type();
      unknown.push_back(fmt::format("'{}' ({})", n.name().empty() ? (n.output_size() ? n.output(0) : "") : n.name(), op));
    }
  }
  if (!unknown.empty()) {
    throw UnsupportedError(fmt::format("{}: {} node{} of ops that ONNX opset {} does not define: {}", path_, unknown.size(),
                                       unknown.size() == 1 ? "" : "s", opset_, fmt::join(unknown, ", ")));
  }
  try {
    ::ONNX_NAMESPACE::checker::check_model(model_);
  } catch (const std::exception& e) {
    throw ModelError(fmt::format("{}: ONNX checker: {}", path_, e.what()));
  }
  // ONNX's own shape inference divides by strides and trusts the other window sizes: a file must not crash it.
  for (const pb::NodeProto& n : model_.graph().node()) {
    for (const pb::AttributeProto& a : n.attribute()) {
      const bool window = a.name() == "strides" || a.name() == "dilations" || a.name() == "kernel_shape";
      if (!window && a.name() != "pads") continue;
      for (int64_t v : a.ints()) {
        if (v < (window ? 1 : 0) || v > ir::kMaxWindowExtent) {
          model_error(n, fmt::format("{} {} must be between {} and {}", a.name(),
                                     ints(std::vector<int64_t>(a.ints().begin(), a.ints().end())), window ? 1 : 0,
                                     ir::kMaxWindowExtent));
        }
      }
    }
  }
  try {
    ::ONNX_NAMESPACE::ShapeInferenceOptions options(/*check_type=*/true, /*strict_mode=*/1);
    ::ONNX_NAMESPACE::shape_inference::InferShapes(model_, ::ONNX_NAMESPACE::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    throw ModelError(fmt::format("{}: ONNX shape inference: {}", path_, e.what()));
  }
}

void Reader::reject_unsupported() {
  std::vector<std::string> bad;
  for (int i = 0; i < model_.graph().node_size(); ++i) {
    if (composites_.count(i) || inside_composites_.count(i) || folded_nodes_.count(i)) continue;
    const pb::NodeProto& n = model_.graph().node(i);
    bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!default_domain || !find_op(n.op_type())) {
      std::string op = default_domain ? n.op_type() : n.domain() + "." + n.op_type();
      bad.push_back(fmt::format("'{}' ({})", n.name().empty() ? n.output(0) : n.name(), op));
    }
  }
  if (bad.empty()) return;
  std::vector<std::string> known;
  for (const OpEntry& e : kOps) known.push_back(e.op);
  throw UnsupportedError(fmt::format("{}: {} unsupported node{}: {} (supported ops: {})", path_, bad.size(),
                                     bad.size() == 1 ? "" : "s", fmt::join(bad, ", "), fmt::join(known, ", ")));
}

// Activations that opset 13 has no op for are short chains. Each match must own its intermediate tensors
// (one reader each, not graph outputs); x may be read by nothing else for the activation to be fused.
//   swish       Mul(x, Sigmoid(x))
//   hard_swish  Mul(x, HardSigmoid(x; alpha 1/6, beta 1/2))
//   gelu        Mul(Mul(x, a), 0.5), Mul(x, Mul(a, 0.5)) or Mul(a, Mul(x, 0.5)) where
//               a = Add(Erf(Div(x, sqrt 2) or Mul(x, 1/sqrt 2)), 1)
/// The tensors of initializers and tensor-valued Constant nodes, by name (for the pattern finders, which run
/// before the constants are converted).
std::map<std::string, const pb::TensorProto*> constant_protos(const pb::GraphProto& g) {
  std::map<std::string, const pb::TensorProto*> consts;
  for (const auto& t : g.initializer()) consts[t.name()] = &t;
  for (const auto& n : g.node()) {
    const auto* a = find_attribute(n, "value");
    if (n.op_type() == "Constant" && a && a->has_t() && n.output_size() == 1) consts[n.output(0)] = &a->t();
  }
  return consts;
}

bool default_domain(const pb::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

void Reader::find_composites() {
  const auto& g = model_.graph();
  std::map<std::string, int> producer;
  std::map<std::string, int> readers;
  std::map<std::string, const pb::TensorProto*> consts = constant_protos(g);
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    for (const auto& o : n.output()) producer[o] = i;
    for (const auto& in : n.input()) ++readers[in];
  }
  for (const auto& o : g.output()) readers[o.name()] += 2;  // never an owned intermediate
  auto op_of = [&](const std::string& t, const char* op) -> const pb::NodeProto* {
    auto p = producer.find(t);
    if (p == producer.end()) return nullptr;
    const auto& n = g.node(p->second);
    bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    return default_domain && n.op_type() == op && n.output_size() >= 1 && n.output(0) == t ? &n : nullptr;
  };
  auto owned = [&](const std::string& t) { return readers[t] == 1; };
  auto scalar = [&](const std::string& t, double want) {
    auto c = consts.find(t);
    if (c == consts.end()) return false;
    try {
      at::Tensor v = to_tensor(*c->second, t);
      return v.numel() == 1 && std::abs(v.to(at::kDouble).reshape({}).item<double>() - want) <= 1e-6 * std::abs(want);
    } catch (const std::exception&) {
      return false;
    }
  };
  auto data = [&](const std::string& t) { return !t.empty() && !consts.count(t); };
  std::map<const pb::NodeProto*, int> position;  // node storage is not contiguous
  for (int i = 0; i < g.node_size(); ++i) position[&g.node(i)] = i;
  auto index = [&](const pb::NodeProto* n) { return position.at(n); };
  // The 1 + erf(x / sqrt 2) part of GELU: its x and nodes, or "" when `t` is not one.
  auto gelu_core = [&](const std::string& t, std::vector<int>& nodes) -> std::string {
    const pb::NodeProto* add = op_of(t, "Add");
    if (!add || add->input_size() != 2) return "";
    int e = scalar(add->input(0), 1.0) ? 1 : scalar(add->input(1), 1.0) ? 0 : -1;
    if (e < 0 || !owned(add->input(e))) return "";
    const pb::NodeProto* erf = op_of(add->input(e), "Erf");
    if (!erf || !owned(erf->input(0))) return "";
    const pb::NodeProto* scale = op_of(erf->input(0), "Div");
    std::string x;
    if (scale && scale->input_size() == 2 && scalar(scale->input(1), std::sqrt(2.0))) {
      x = scale->input(0);
    } else if ((scale = op_of(erf->input(0), "Mul")) && scale->input_size() == 2) {
      if (scalar(scale->input(1), std::sqrt(0.5))) x = scale->input(0);
      if (scalar(scale->input(0), std::sqrt(0.5))) x = scale->input(1);
    }
    if (!data(x)) return "";
    nodes.insert(nodes.end(), {index(add), index(erf), index(scale)});
    return x;
  };
  auto claim = [&](int last, ir::Activation a, const std::string& x, const std::vector<int>& nodes) {
    if (inside_composites_.count(last)) return;
    for (int i : nodes) {
      if (inside_composites_.count(i) || composites_.count(i)) return;
    }
    int reads = 0;
    for (int i : nodes) reads += static_cast<int>(std::count(g.node(i).input().begin(), g.node(i).input().end(), x));
    reads += static_cast<int>(std::count(g.node(last).input().begin(), g.node(last).input().end(), x));
    composites_[last] = Composite{a, x, reads};
    inside_composites_.insert(nodes.begin(), nodes.end());
  };
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& m = g.node(i);
    if (m.op_type() != "Mul" || !(m.domain().empty() || m.domain() == "ai.onnx") || m.input_size() != 2) continue;
    bool found = false;
    for (int k = 0; k < 2 && !found; ++k) {
      const std::string& x = m.input(k);
      const std::string& other = m.input(1 - k);
      if (!data(x) || !owned(other)) continue;
      if (const pb::NodeProto* s = op_of(other, "Sigmoid"); s && s->input(0) == x) {
        claim(i, ir::Activation::kSwish, x, {index(s)});
        found = true;
      } else if (const pb::NodeProto* h = op_of(other, "HardSigmoid");
                 h && h->input(0) == x && std::abs(attr_float(*h, "alpha", 0.2f) - 1.0f / 6.0f) <= 1e-6f &&
                 std::abs(attr_float(*h, "beta", 0.5f) - 0.5f) <= 1e-6f) {
        claim(i, ir::Activation::kHardSwish, x, {index(h)});
        found = true;
      }
    }
    // GELU, ending in this Mul.
    for (int k = 0; k < 2 && !found; ++k) {
      const std::string& p = m.input(k);
      const std::string& q = m.input(1 - k);
      if (!owned(p)) continue;
      std::vector<int> nodes;
      const pb::NodeProto* inner = op_of(p, "Mul");
      if (scalar(q, 0.5) && inner && inner->input_size() == 2) {  // Mul(Mul(x, a), 0.5)
        for (int j = 0; j < 2 && !found; ++j) {
          nodes = {index(inner)};
          std::string x = owned(inner->input(j)) ? gelu_core(inner->input(j), nodes) : "";
          if (!x.empty() && inner->input(1 - j) == x) {
            claim(i, ir::Activation::kGelu, x, nodes);
            found = true;
          }
        }
      } else if (inner && inner->input_size() == 2) {
        for (int j = 0; j < 2 && !found; ++j) {
          if (!scalar(inner->input(1 - j), 0.5)) continue;
          nodes = {index(inner)};
          const std::string& r = inner->input(j);
          if (data(q) && owned(r) && gelu_core(r, nodes) == q) {  // Mul(x, Mul(a, 0.5))
            claim(i, ir::Activation::kGelu, q, nodes);
            found = true;
          } else if (data(r) && owned(q) && (nodes = {index(inner)}, gelu_core(q, nodes) == r)) {  // Mul(a, Mul(x, 0.5))
            claim(i, ir::Activation::kGelu, r, nodes);
            found = true;
          }
        }
      }
    }
  }
}

// The input's preprocessing: exporters keep a model's data scaling in the graph (a Cast of a uint8 image to
// float, / 255, (x - mean) / std). The chain runs from the graph input while each tensor has exactly one reader:
// a Cast to float first, then Mul / Add by a constant (either operand order) and Div / Sub by one (data first).
void Reader::find_preprocess() {
  const auto& g = model_.graph();
  std::set<std::string> initializers;
  for (const auto& t : g.initializer()) initializers.insert(t.name());
  std::vector<std::string> inputs;
  for (const auto& i : g.input()) {
    if (!initializers.count(i.name())) inputs.push_back(i.name());
  }
  if (inputs.size() != 1) return;  // make_input says so
  std::map<std::string, std::vector<int>> readers;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& in : g.node(i).input()) readers[in].push_back(i);
  }
  for (const auto& o : g.output()) readers[o.name()].push_back(-1);
  std::map<std::string, const pb::TensorProto*> consts = constant_protos(g);
  std::string t = inputs[0];
  for (;;) {
    const std::vector<int>& r = readers[t];
    if (r.size() != 1 || r[0] < 0 || composites_.count(r[0]) || inside_composites_.count(r[0])) break;
    const pb::NodeProto& n = g.node(r[0]);
    const std::string& op = n.op_type();
    if (!default_domain(n) || n.output_size() != 1) break;
    PreStep step;
    step.node = r[0];
    step.op.op = op;
    if (op == "Cast") {
      if (!pre_.empty() || attr_int(n, "to", 0) != pb::TensorProto::FLOAT) break;
      step.op.attrs["to"] = "FLOAT";  // "from": make_input, which checks the input's type
    } else if (op == "Mul" || op == "Add" || op == "Div" || op == "Sub") {
      if (n.input_size() != 2 || n.input(0) == n.input(1)) break;
      int k = n.input(0) == t ? 0 : 1;
      if (k == 1 && (op == "Div" || op == "Sub")) break;  // c / x is not a scaling; c - x is rare: not folded
      auto c = consts.find(n.input(1 - k));
      if (c == consts.end()) break;
      at::Tensor v = to_tensor(*c->second, n.input(1 - k));
      if (!at::isFloatingType(v.scalar_type())) break;
      step.constant = v.to(at::kDouble);
      at::Tensor flat = step.constant.reshape({-1}).contiguous();
      step.op.values.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
    } else {
      break;
    }
    pre_.push_back(step);
    folded_nodes_.insert(step.node);
    t = n.output(0);
  }
  pre_end_ = t;
}

// What exporters put after the logits of a classifier: ArgMax over the classes, maybe a Cast of the indices, or
// a Cast of the output. snare's output stays the logits (or probabilities); the tail goes into
// meta["onnx.dropped_tail"] (make_outputs) and the writer puts it back. Single-output graphs only.
void Reader::find_tail() {
  const auto& g = model_.graph();
  if (g.output_size() != 1) return;
  std::map<std::string, int> producer, readers;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) producer[o] = i;
    for (const auto& in : g.node(i).input()) ++readers[in];
  }
  std::string t = g.output(0).name();
  for (auto p = producer.find(t); p != producer.end(); p = producer.find(t)) {
    const pb::NodeProto& n = g.node(p->second);
    bool tail_op = n.op_type() == "Cast" || n.op_type() == "ArgMax";
    if (!default_domain(n) || !tail_op || n.input_size() < 1 || readers[n.input(0)] != 1 || folded_nodes_.count(p->second) ||
        composites_.count(p->second) || inside_composites_.count(p->second)) {
      break;
    }
    tail_nodes_.push_back(p->second);
    t = n.input(0);
    if (n.op_type() == "ArgMax") break;  // nothing before the ArgMax belongs to the tail
  }
  folded_nodes_.insert(tail_nodes_.begin(), tail_nodes_.end());
  tail_start_ = t;
}

void Reader::collect_constants_and_uses() {
  const auto& g = model_.graph();
  for (const auto& t : g.initializer()) constants_[t.name()] = to_tensor(t, t.name());
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) {
      if (!i.empty()) ++uses_[i];
    }
  }
  for (const auto& o : g.output()) ++uses_[o.name()];
  // Shape reads only the (fixed) shape, not the values: the value can still be fused into.
  for (const auto& n : g.node()) {
    if (n.op_type() == "Shape" && n.input_size() == 1) --uses_[n.input(0)];
  }
  // A composite reads its x once, whatever its nodes do, so x can still be fused into.
  for (const auto& [i, c] : composites_) uses_[c.x] -= c.reads_of_x - 1;
}

// The single real graph input (initializers listed as inputs, as old tf2onnx writes them, are
// constants). An NHWC input that is only read through NHWC->NCHW Transposes (or a Reshape that
// amounts to one) becomes a channels-first ir Input: snare feeds channels-first data.
void Reader::make_input() {
  const auto& g = model_.graph();
  const pb::ValueInfoProto* input = nullptr;
  int count = 0;
  for (const auto& i : g.input()) {
    if (is_const(i.name())) continue;
    ++count;
    input = &i;
  }
  if (count != 1) throw UnsupportedError(fmt::format("{}: model has {} non-constant inputs; snare supports one", path_, count));
  if (!input->type().has_tensor_type() || !input->type().tensor_type().has_shape()) {
    throw UnsupportedError(fmt::format("{}: input '{}' has no tensor shape", path_, input->name()));
  }
  auto elem = input->type().tensor_type().elem_type();
  std::string elem_name = pb::TensorProto::DataType_Name(static_cast<pb::TensorProto::DataType>(elem));
  bool cast = !pre_.empty() && pre_.front().op.op == "Cast";
  bool castable = elem != pb::TensorProto::STRING && elem != pb::TensorProto::BOOL && elem != pb::TensorProto::UNDEFINED &&
                  elem != pb::TensorProto::COMPLEX64 && elem != pb::TensorProto::COMPLEX128;
  if (cast && castable) {
    // snare feeds float: the Cast goes back into exported files (writer), so they take the same input type.
    pre_.front().op.attrs["from"] = elem_name;
    graph_.meta["onnx.input_type"] = elem_name + " (Cast to float in the file; snare feeds float)";
  } else if (elem != pb::TensorProto::FLOAT) {
    throw UnsupportedError(fmt::format("{}: input '{}' has element type {}; snare supports float, or an integer type "
                                       "that the file Casts to float first",
                                       path_, input->name(), elem_name));
  }
  const auto& dims = input->type().tensor_type().shape().dim();
  if (dims.size() < 2) {
    throw UnsupportedError(fmt::format("{}: input '{}' has rank {}; snare needs a batch axis and at least one more",
                                       path_, input->name(), dims.size()));
  }
  if (dims[0].has_dim_value()) fixed_batch_ = dims[0].dim_value();
  Shape shape;
  for (int i = 1; i < dims.size(); ++i) {
    if (!dims[i].has_dim_value() || dims[i].dim_value() <= 0) {
      throw UnsupportedError(fmt::format("{}: input '{}' axis {} has no fixed size; snare needs fixed per-sample shapes",
                                         path_, input->name(), i));
    }
    shape.push_back(dims[i].dim_value());
    if (product(shape) > (int64_t{1} << 31)) {
      throw ModelError(fmt::format("{}: input '{}' declares more than 2^31 values per sample ({})", path_,
                                   input->name(), ir::shape_string(shape)));
    }
  }

  auto rank = static_cast<int64_t>(shape.size()) + 1;
  bool nhwc = rank >= 3;
  int readers = 0;
  // After the preprocessing chain (elementwise, so layout-blind) the data tensor is pre_end_.
  auto to_nchw = [&](const pb::NodeProto& n, int64_t r) {
    return n.op_type() == "Transpose" && attr_ints(n, "perm") == perm_to_first(r) &&
           !parse_hints(n.doc_string()).has("permute");  // snare's own Permute layer is not a layout change
  };
  // tf2onnx's Conv1D on [N,L,C]: Unsqueeze to [N,1,L,C] (or [N,L,1,C]), then NHWC->NCHW.
  auto unsqueeze_to_nchw = [&](const pb::NodeProto& u) {
    if (u.op_type() != "Unsqueeze" || rank != 3 || u.output_size() != 1) return false;
    std::optional<std::vector<int64_t>> axes = attr_ints(u, "axes");
    if (opset_ >= 13 && present(u, 1) && is_const(u.input(1))) {
      const at::Tensor& a = constants_.at(u.input(1));
      axes = std::vector<int64_t>(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
    }
    if (!axes || axes->size() != 1 || ((*axes)[0] != 1 && (*axes)[0] != 2 && (*axes)[0] != -3 && (*axes)[0] != -2)) return false;
    int transposes = 0;
    for (const auto& m : g.node()) {
      for (const auto& i : m.input()) {
        if (i != u.output(0)) continue;
        if (!to_nchw(m, 4)) return false;
        ++transposes;
      }
    }
    return transposes > 0;
  };
  for (const auto& n : g.node()) {
    for (int k = 0; k < n.input_size(); ++k) {
      if (n.input(k) != pre_end_) continue;
      ++readers;
      if (k == 0 && (to_nchw(n, rank) || unsqueeze_to_nchw(n))) continue;
      if (k == 0 && n.op_type() == "Reshape" && present(n, 1) && is_const(n.input(1)) && layouts_agree(rotate_to_first(shape))) {
        std::vector<int64_t> target(constants_.at(n.input(1)).data_ptr<int64_t>(),
                                    constants_.at(n.input(1)).data_ptr<int64_t>() + constants_.at(n.input(1)).numel());
        if (target.size() == shape.size() + 1 && Shape(target.begin() + 1, target.end()) == rotate_to_first(shape)) continue;
      }
      nhwc = false;
    }
  }
  nhwc = nhwc && readers > 0;

  Layer in;
  in.name = "input";
  in.kind = LayerKind::kInput;
  in.input_shape = nhwc ? rotate_to_first(shape) : shape;
  in.output_shape = in.input_shape;
  names_.insert(in.name);
  graph_.layers.push_back(in);
  graph_.meta["onnx.input"] = input->name();
  if (nhwc) graph_.meta["onnx.input_layout"] = "NHWC (snare feeds NCHW)";
  input_layout_ = nhwc ? Layout::kLast : Layout::kFirst;
  define(pre_end_, Value{in.name, input_layout_}, true);
}

void Reader::make_outputs() {
  std::vector<std::string> outs;
  for (const auto& o : model_.graph().output()) {
    auto it = values_.find(tail_nodes_.empty() ? o.name() : tail_start_);
    if (it == values_.end()) {
      throw UnsupportedError(fmt::format("{}: output '{}' is a constant or not produced by a supported node", path_, o.name()));
    }
    Value v = normal(it->second);
    if (v.layer == graph_.layers.front().name) {
      throw UnsupportedError(fmt::format("{}: output '{}' is the input itself", path_, o.name()));
    }
    if (v.layout != Layout::kFirst && v.layout != Layout::kLast && v.layout != Layout::kKeepDims) {
      throw UnsupportedError(fmt::format("{}: output '{}' is in {} layout; snare's outputs are batch-first",
                                         path_, o.name(), layout_name(v.layout)));
    }
    if (!tail_nodes_.empty()) describe_tail(o.name(), v);
    if (v.layout == Layout::kLast) graph_.meta["onnx.output_layout"] = "NHWC in the file, NCHW in snare";
    outs.push_back(v.layer);
  }
  if (outs.empty()) throw ModelError(fmt::format("{}: graph has no outputs", path_));
  if (!(outs.size() == 1 && outs[0] == graph_.layers.back().name)) graph_.outputs = outs;
}

// The tail's nodes as meta["onnx.dropped_tail"], with the ArgMax axis as the writer needs it: axis 1, the
// channel axis of snare's channels-first output.
void Reader::describe_tail(const std::string& output, const Value& v) {
  std::vector<FoldedOp> ops;
  for (auto it = tail_nodes_.rbegin(); it != tail_nodes_.rend(); ++it) {
    const pb::NodeProto& n = model_.graph().node(*it);
    FoldedOp op;
    op.op = n.op_type();
    if (op.op == "ArgMax") {
      int64_t rank = onnx_rank(v);
      int64_t axis = attr_int(n, "axis", 0);
      if (axis < 0) axis += rank;
      int64_t keepdims = attr_int(n, "keepdims", 1);
      if (v.layout != Layout::kFirst && v.layout != Layout::kLast) {
        unsupported(n, fmt::format("ArgMax of a {} tensor at output '{}'", layout_name(v.layout), output));
      }
      if (axis != channel_axis(v.layout, rank)) {
        unsupported(n, fmt::format("ArgMax over axis {} of output '{}' [N,{}]; snare drops and writes back an ArgMax "
                                   "over the channel (class) axis {} only",
                                   axis, output, fmt::join(onnx_shape(v), ","), channel_axis(v.layout, rank)));
      }
      if (keepdims != 0 && v.layout == Layout::kLast && rank > 2) {
        unsupported(n, "ArgMax with keepdims=1 over the last axis of an NHWC output (snare's output is NCHW, so the "
                       "kept axis would move)");
      }
      op.attrs = {{"axis", "1"}, {"keepdims", std::to_string(keepdims)},
                  {"select_last_index", std::to_string(attr_int(n, "select_last_index", 0))}};
    } else {
      op.attrs["to"] = pb::TensorProto::DataType_Name(static_cast<pb::TensorProto::DataType>(attr_int(n, "to", 0)));
    }
    ops.push_back(op);
  }
  graph_.meta["onnx.dropped_tail"] = format_folded_ops(ops);
}

void Reader::fold_preprocess() {
  if (pre_.empty()) return;
  std::vector<FoldedOp> ops;
  for (const PreStep& s : pre_) ops.push_back(s.op);
  std::string steps = format_folded_ops(ops);
  graph_.meta["onnx.preprocess"] = steps;
  // y = a * x + b per channel (the ONNX input's channel axis; each feature of an [N,F] input).
  const Shape& shape = graph_.input().input_shape;
  const int64_t channels = shape.at(0);
  Shape onnx = input_layout_ == Layout::kLast ? rotate_to_last(shape) : shape;
  const auto rank = static_cast<int64_t>(onnx.size()) + 1;
  const int64_t ch = channel_axis(input_layout_, rank);
  std::vector<double> a(static_cast<size_t>(channels), 1.0), b(static_cast<size_t>(channels), 0.0);
  for (const PreStep& s : pre_) {
    if (!s.constant.defined()) continue;  // the Cast
    const pb::NodeProto& n = model_.graph().node(s.node);
    const at::Tensor& c = s.constant;
    Shape cs(c.sizes().begin(), c.sizes().end());
    if (c.dim() > rank) unsupported(n, fmt::format("the input's scaling constant {} has more axes than the input", ints(cs)));
    for (int64_t i = 0; i < c.dim(); ++i) {
      if (c.size(i) != 1 && rank - c.dim() + i != ch) {
        unsupported(n, fmt::format("the input's scaling constant {} varies along axis {} of the input [N,{}]; snare "
                                   "folds input scaling by scalars and per-channel constants only",
                                   ints(cs), rank - c.dim() + i, fmt::join(onnx, ",")));
      }
    }
    at::Tensor flat = c.reshape({-1}).contiguous();
    for (int64_t j = 0; j < channels; ++j) {
      double v = flat.numel() == 1 ? flat[0].item<double>() : flat[j].item<double>();
      if (s.op.op == "Mul") {
        a[j] *= v;
        b[j] *= v;
      } else if (s.op.op == "Div") {
        a[j] /= v;
        b[j] /= v;
      } else if (s.op.op == "Add") {
        b[j] += v;
      } else {
        b[j] -= v;
      }
    }
  }
  auto all = [](const std::vector<double>& v, auto pred) { return std::all_of(v.begin(), v.end(), pred); };
  if (all(a, [](double x) { return x == 1.0; }) && all(b, [](double x) { return x == 0.0; })) {
    graph_.meta["onnx.preprocess_into"] = "nothing (it does not scale)";
    return;
  }
  // ir::InputScaling: unit is x / 255; standard is (x - mean) / std per channel, with std > 0.
  using Scale = ir::InputScaling::Scale;
  const Scale recorded = graph_.input_scaling.scale;
  const bool meta_free = recorded == Scale::kUnstated || recorded == Scale::kRaw;
  if (meta_free && all(a, [](double x) { return std::isfinite(x) && x > 0; })) {
    if (all(b, [](double x) { return x == 0.0; }) && all(a, [](double x) { return std::abs(x * 255.0 - 1.0) <= 1e-6; })) {
      graph_.input_scaling = {Scale::kUnit, {}, {}};
      graph_.meta["onnx.preprocess_into"] = scaling_summary(graph_.input_scaling);
      return;
    }
    std::vector<double> mean, stddev;
    for (size_t j = 0; j < a.size(); ++j) {
      mean.push_back(-b[j] / a[j]);
      stddev.push_back(1.0 / a[j]);
    }
    // One value stands for every channel (data::LoadOptions).
    auto collapsed = [](const std::vector<double>& v) {
      bool same = std::all_of(v.begin(), v.end(), [&](double x) { return x == v.front(); });
      return same ? std::vector<double>{v.front()} : v;
    };
    graph_.input_scaling = {Scale::kStandard, collapsed(mean), collapsed(stddev)};
    // The writer puts the scaling nodes back while the model's scaling still says this (onnx.preprocess_into).
    graph_.meta["onnx.preprocess_into"] = scaling_summary(graph_.input_scaling);
    return;
  }
  fold_scaling_into_weights(a, b, steps);
}

// Exact folds only: y = W (a x + b) + c = (W a) x + (W b + c). The offset part is exact before a Dense (also
// through a Flatten) and before a valid conv; a "same" conv pads with zeros where the file had b.
void Reader::fold_scaling_into_weights(const std::vector<double>& a, const std::vector<double>& b, const std::string& steps) {
  auto refuse = [&](const std::string& why) {
    const std::string recorded = scaling_summary(graph_.input_scaling);
    const bool says_scale = !recorded.empty() && graph_.input_scaling.scale != ir::InputScaling::Scale::kRaw;
    std::string meta = says_scale ? fmt::format(" (the file's metadata already says {})", recorded)
                                  : std::string(" (it is not a positive per-channel scale)");
    throw UnsupportedError(fmt::format("{}: input preprocessing {} cannot be the model's input scaling{} nor be folded "
                                       "into the first layer: {}",
                                       path_, steps, meta, why));
  };
  const Shape& shape = graph_.input().input_shape;
  const auto channels = static_cast<int64_t>(a.size());
  std::vector<std::string> readers = graph_.consumers(graph_.input().name);
  if (readers.size() != 1) refuse(fmt::format("the input feeds {} layers", readers.size()));
  Layer* first = &graph_.layer(readers[0]);
  const Layer* flatten = nullptr;
  if (first->kind == LayerKind::kFlatten) {
    flatten = first;
    std::vector<std::string> next = graph_.consumers(first->name);
    if (next.size() != 1) refuse(fmt::format("the Flatten '{}' feeds {} layers", first->name, next.size()));
    first = &graph_.layer(next[0]);
    if (first->kind != LayerKind::kDense) refuse(fmt::format("the Flatten '{}' feeds a {}", flatten->name, ir::kind_name(first->kind)));
  }
  bool offset = std::any_of(b.begin(), b.end(), [](double x) { return x != 0.0; });
  at::Tensor av = at::tensor(a, at::kDouble), bv = at::tensor(b, at::kDouble);
  at::Tensor w = first->weights.at("weight").to(at::kDouble);
  at::Tensor bias = first->use_bias ? first->weights.at("bias").to(at::kDouble) : at::zeros({w.size(0)}, at::kDouble);
  if (first->kind == LayerKind::kDense) {
    if (flatten) {  // one value per flattened feature, in the Flatten's order
      std::vector<int64_t> view(shape.size(), 1);
      view[0] = channels;
      auto spread = [&](const at::Tensor& t) {
        at::Tensor full = t.view(view).expand(shape);
        if (flatten->channels_last) full = full.movedim(0, -1);
        return full.reshape({-1});
      };
      av = spread(av);
      bv = spread(bv);
    }
    bias = bias + w.mv(bv);
    w = w * av.unsqueeze(0);
  } else if (first->kind == LayerKind::kConv1D || first->kind == LayerKind::kConv2D) {
    if (first->groups != 1) refuse(fmt::format("the first layer '{}' is a grouped conv", first->name));
    if (offset && first->padding == ir::Padding::kSame) {
      refuse(fmt::format("the offset is not exact before the 'same'-padded conv '{}' (its padding adds zeros where the "
                         "file pads the offset input)",
                         first->name));
    }
    std::vector<int64_t> view(static_cast<size_t>(w.dim()), 1);
    view[1] = channels;
    std::vector<int64_t> reduce;
    for (int64_t d = 1; d < w.dim(); ++d) reduce.push_back(d);
    bias = bias + (w * bv.view(view)).sum(reduce);
    w = w * av.view(view);
  } else {
    refuse(fmt::format("the first layer '{}' is a {} (snare folds into a Dense, a Flatten then a Dense, or a "
                       "Conv1D/Conv2D)",
                       first->name, ir::kind_name(first->kind)));
  }
  first->weights["weight"] = w.to(at::kFloat).contiguous();
  if (offset) {
    first->weights["bias"] = bias.to(at::kFloat).contiguous();
    first->use_bias = true;
  }
  graph_.meta["onnx.preprocess_into"] = fmt::format("weights of '{}'", first->name);
}

// ---------------------------------------------------------------------------------------------
// Values and layers

const at::Tensor& Reader::constant(const pb::NodeProto& n, int i) const {
  if (!present(n, i)) model_error(n, fmt::format("input {} is missing", i));
  auto it = constants_.find(n.input(i));
  if (it == constants_.end()) {
    unsupported(n, fmt::format("input {} ('{}') must be a constant (initializer or Constant)", i, n.input(i)));
  }
  return it->second;
}

const Value& Reader::value(const pb::NodeProto& n, int i) const {
  if (!present(n, i)) model_error(n, fmt::format("input {} is missing", i));
  auto it = values_.find(n.input(i));
  if (it == values_.end()) {
    if (is_const(n.input(i))) unsupported(n, fmt::format("input {} ('{}') is a constant; snare expects data here", i, n.input(i)));
    model_error(n, fmt::format("input '{}' is not defined before the node", n.input(i)));
  }
  return it->second;
}

const Value& Reader::value_of(const pb::NodeProto& n, const std::string& tensor) const {
  auto it = values_.find(tensor);
  if (it == values_.end()) {
    if (is_const(tensor)) unsupported(n, fmt::format("'{}' is a constant; snare expects data here", tensor));
    model_error(n, fmt::format("input '{}' is not defined before the node", tensor));
  }
  return it->second;
}

Shape Reader::onnx_shape(const Value& v) const {
  const Shape& s = shape_of(v.layer);
  switch (v.layout) {
    case Layout::kFirst: return s;
    case Layout::kLast: return rotate_to_last(s);
    case Layout::kKeepDims: {
      const Layer& l = graph_.layer(v.layer);
      Shape out = s;
      out.insert(out.end(), l.kind == LayerKind::kGlobalAvgPool2D || l.kind == LayerKind::kGlobalMaxPool2D ? 2 : 1, 1);
      return out;
    }
    case Layout::kTime: return {s.at(1), s.at(0)};  // [L, (N), C]: rank 3 in ONNX
    case Layout::kLstmY:
    case Layout::kLstmYh:
    case Layout::kYDirsLast:
    case Layout::kYhDirsLast: {
      const Layer& l = graph_.layer(v.layer);
      const int64_t dirs = l.bidirectional ? 2 : 1;
      if (v.layout == Layout::kLstmY || v.layout == Layout::kYDirsLast) return {s.at(1), dirs, l.units};
      return {dirs, l.units};
    }
    case Layout::kFirstUnitH: return {s.at(0), 1, s.at(1)};
    case Layout::kFirstUnitW: return {s.at(0), s.at(1), 1};
    case Layout::kLastUnitH: return {1, s.at(1), s.at(0)};
    case Layout::kLastUnitW: return {s.at(1), 1, s.at(0)};
  }
  return s;
}

Value Reader::normal(Value v) const {
  if (v.layout == Layout::kLast && shape_of(v.layer).size() <= 1) v.layout = Layout::kFirst;
  return v;
}

const Value& Reader::plain_value(const pb::NodeProto& n, int i) const {
  const Value& v = value(n, i);
  if (v.layout != Layout::kFirst && v.layout != Layout::kLast) {
    unsupported(n, fmt::format("input '{}' is in {} layout here", n.input(i), layout_name(v.layout)));
  }
  return v;
}

std::string Reader::add_layer(Layer layer, const pb::NodeProto& n, const std::string& suffix) {
  std::string base = (n.name().empty() ? n.output(0) : n.name()) + suffix;
  std::string name = base;
  for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
  names_.insert(name);
  layer.name = name;
  graph_.layers.push_back(std::move(layer));
  try {
    graph_.infer_shape_of_last();
  } catch (const Error& e) {
    throw ModelError(node_where(n) + ": " + e.what());
  }
  return name;
}

void Reader::define(const std::string& tensor, Value v, bool tip) {
  values_[tensor] = normal(v);
  if (tip) tip_[v.layer] = tensor;
}

bool Reader::absorbable(const std::string& tensor) const {
  auto v = values_.find(tensor);
  if (v == values_.end()) return false;
  auto t = tip_.find(v->second.layer);
  auto u = uses_.find(tensor);
  return t != tip_.end() && t->second == tensor && u != uses_.end() && u->second == 1;
}

void Reader::alias(const pb::NodeProto& n, Layout layout) {
  Value v = value(n, 0);
  bool tip = absorbable(n.input(0));
  v.layout = layout;
  define(n.output(0), v, tip);
}

ir::Padding Reader::resolve_padding(const pb::NodeProto& n, const Layer& window, std::string& input, bool zero_pad_ok,
                                    bool same_ok) {
  const Shape& in = shape_of(input);
  size_t dims = window.kernel.size();
  auto same = [&](size_t i) {
    int64_t s = window.strides.empty() ? 1 : window.strides[i];
    int64_t d = window.dilation.empty() ? 1 : window.dilation[i];
    return same_pads(in.at(i + 1), window.kernel[i], s, d);
  };
  std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
  if (auto_pad == "VALID") return ir::Padding::kValid;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < dims; ++i) {
      auto [b, e] = same(i);
      if (auto_pad == "SAME_LOWER" && b != e) unsupported(n, "auto_pad SAME_LOWER with an odd total padding");
    }
    if (!same_ok) unsupported(n, "same padding is not supported for this op");
    return ir::Padding::kSame;
  }
  if (auto_pad != "NOTSET") model_error(n, "unknown auto_pad '" + auto_pad + "'");
  std::vector<int64_t> pads = attr_ints(n, "pads").value_or(std::vector<int64_t>(2 * dims, 0));
  // Their range was checked in check(), for every node, like the window attributes.
  if (pads.size() != 2 * dims) model_error(n, fmt::format("pads {} for {} spatial axes", ints(pads), dims));
  bool zero = std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
  bool matches_same = true;
  for (size_t i = 0; i < dims; ++i) {
    auto [b, e] = same(i);
    matches_same = matches_same && pads[i] == b && pads[i + dims] == e;
  }
  // Zero pads are both "valid" and (where "same" needs no pixels) "same": the hint picks.
  if (matches_same && same_ok && (!zero || parse_hints(n.doc_string()).values["padding"] == "same")) {
    return ir::Padding::kSame;
  }
  if (zero) return ir::Padding::kValid;
  if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; })) unsupported(n, "negative pads " + ints(pads));
  if (!zero_pad_ok) {
    unsupported(n, fmt::format("pads {} are neither zero nor TensorFlow's \"same\" padding for input {}", ints(pads),
                               ir::shape_string(in)));
  }
  Layer pad;
  pad.kind = dims == 1 ? LayerKind::kZeroPadding1D : LayerKind::kZeroPadding2D;
  pad.inputs = {input};
  for (size_t i = 0; i < dims; ++i) {
    pad.pads.push_back(pads[i]);
    pad.pads.push_back(pads[i + dims]);
  }
  input = add_layer(pad, n, "/pad");
  return ir::Padding::kValid;
}

// ---------------------------------------------------------------------------------------------
// Op mappings

void Reader::map_constant(const pb::NodeProto& n) {
  const auto* a = find_attribute(n, "value");
  if (a && a->has_t()) {
    constants_[n.output(0)] = to_tensor(a->t(), n.output(0));
  } else if ((a = find_attribute(n, "value_float"))) {
    constants_[n.output(0)] = at::full({}, a->f(), at::kFloat);
  } else if ((a = find_attribute(n, "value_floats"))) {
    constants_[n.output(0)] = at::tensor(std::vector<float>(a->floats().begin(), a->floats().end()), at::kFloat);
  } else if ((a = find_attribute(n, "value_int"))) {
    constants_[n.output(0)] = at::full({}, a->i(), at::kLong);
  } else if ((a = find_attribute(n, "value_ints"))) {
    constants_[n.output(0)] = at::tensor(std::vector<int64_t>(a->ints().begin(), a->ints().end()), at::kLong);
  } else {
    unsupported(n, "only tensor, float(s) and int(s) constants are supported");
  }
}

// Constant sub-expressions (CNTK reshapes a weight before MatMul; exporters transpose weights).
bool Reader::fold_constant(const pb::NodeProto& n) {
  if (n.op_type() == "Constant" || n.input_size() == 0) return false;
  for (const auto& i : n.input()) {
    if (!i.empty() && !is_const(i)) return false;
  }
  const at::Tensor& x = constants_.at(n.input(0));
  const std::string& op = n.op_type();
  bool batch_dependent = std::any_of(n.input().begin(), n.input().end(), [&](const std::string& i) { return batch_dependent_.count(i) > 0; });
  if (batch_dependent && (op == "Add" || op == "Sum")) unsupported(n, "computes with the batch size of a Shape");
  at::Tensor out;
  if (op == "Identity" || op == "Dropout") {
    out = x;
  } else if (op == "Transpose") {
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty()) {
      for (int64_t i = x.dim() - 1; i >= 0; --i) perm.push_back(i);
    }
    out = x.permute(perm).contiguous();
  } else if (op == "Reshape") {
    const at::Tensor& s = constant(n, 1);
    std::vector<int64_t> shape(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 0) shape[i] = x.size(static_cast<int64_t>(i));
    }
    out = x.reshape(shape).contiguous();
  } else if (op == "Flatten") {
    int64_t axis = attr_int(n, "axis", 1);
    if (axis < 0) axis += x.dim();
    out = x.reshape({x.dim() == 0 ? 1 : product(Shape(x.sizes().begin(), x.sizes().begin() + axis)), -1});
  } else if (op == "Add") {
    out = x + constant(n, 1);
  } else if (op == "Sum") {
    out = x;
    for (int i = 1; i < n.input_size(); ++i) out = out + constant(n, i);
  } else if (op == "Shape") {
    out = at::tensor(std::vector<int64_t>(x.sizes().begin(), x.sizes().end()), at::kLong);
  } else if (op == "Gather") {  // shape arithmetic: x.size(0) is Gather(Shape(x), 0)
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0) axis += x.dim();
    at::Tensor index = constant(n, 1).to(at::kLong);
    index = at::where(index < 0, index + x.size(axis), index);
    Shape dims(x.sizes().begin(), x.sizes().begin() + axis);
    dims.insert(dims.end(), index.sizes().begin(), index.sizes().end());
    dims.insert(dims.end(), x.sizes().begin() + axis + 1, x.sizes().end());
    out = x.index_select(axis, index.reshape({-1})).reshape(dims).contiguous();
  } else if (op == "Unsqueeze" || op == "Squeeze") {
    bool unsqueeze = op == "Unsqueeze";
    int64_t added = 0;  // Unsqueeze's axes index the output
    if (unsqueeze && opset_ < 13) added = static_cast<int64_t>(attr_ints(n, "axes").value_or(std::vector<int64_t>{}).size());
    if (unsqueeze && opset_ >= 13 && present(n, 1)) added = constant(n, 1).numel();
    std::vector<int64_t> axes = axes_of(n, 13, x.dim() + added);
    out = x;
    if (unsqueeze) {
      for (int64_t a : axes) out = out.unsqueeze(a);
    } else if (axes.empty()) {
      out = out.squeeze();
    } else {
      for (auto a = axes.rbegin(); a != axes.rend(); ++a) out = out.squeeze(*a);
    }
    out = out.contiguous();
  } else if (op == "Concat") {
    int64_t axis = attr_int(n, "axis", 0);
    std::vector<at::Tensor> parts;
    for (int i = 0; i < n.input_size(); ++i) parts.push_back(constant(n, i));
    out = at::cat(parts, axis < 0 ? axis + x.dim() : axis);
  } else if (op == "Cast") {
    int64_t to = attr_int(n, "to", 0);
    bool to_float = to == pb::TensorProto::FLOAT || to == pb::TensorProto::DOUBLE || to == pb::TensorProto::FLOAT16;
    bool to_int = to == pb::TensorProto::INT64 || to == pb::TensorProto::INT32 || to == pb::TensorProto::INT16 ||
                  to == pb::TensorProto::INT8 || to == pb::TensorProto::UINT8;
    if (!to_float && !to_int) unsupported(n, "Cast of a constant to a type other than float or an integer");
    out = x.to(to_float ? at::kFloat : at::kLong);
  } else {
    unsupported(n, "all inputs are constants; snare folds only Identity, Transpose, Reshape, Flatten, Add, Sum, Shape, Gather, "
                   "Unsqueeze, Squeeze, Concat and Cast of constants");
  }
  if (batch_dependent && out.scalar_type() == at::kLong && out.eq(kBatchDim).any().item<bool>()) batch_dependent_.insert(n.output(0));
  constants_[n.output(0)] = out;
  return true;
}

void Reader::map_identity(const pb::NodeProto& n) {
  if (parse_hints(n.doc_string()).has("layer")) {
    map_activation(n);
    return;
  }
  alias(n, value(n, 0).layout);
}

void Reader::map_dropout(const pb::NodeProto& n) {
  if (n.output_size() > 1 && !n.output(1).empty() && uses_[n.output(1)] > 0) unsupported(n, "the mask output is used");
  float ratio = 0.5f;
  if (opset_ < 12) {
    ratio = attr_float(n, "ratio", 0.5f);
  } else if (present(n, 1)) {
    ratio = constant(n, 1).item<float>();
  }
  if (present(n, 2) && constant(n, 2).item<int64_t>() != 0) unsupported(n, "training_mode is on");
  Value v = value(n, 0);
  Layer l;
  l.kind = LayerKind::kDropout;
  l.inputs = {v.layer};
  l.rate = parse_hints(n.doc_string()).real("rate", ratio);
  define(n.output(0), Value{add_layer(l, n), v.layout}, true);
}

void Reader::map_conv(const pb::NodeProto& n) {
  if (is_unit(value(n, 0).layout)) return map_unit_window(n, &Reader::map_conv);
  const Value& x = plain_value(n, 0);
  if (x.layout != Layout::kFirst) unsupported(n, "input is channels-last (NHWC) here; ONNX Conv reads NCHW");
  const at::Tensor& w = constant(n, 1);
  if (w.dim() != 3 && w.dim() != 4) unsupported(n, fmt::format("{}-D convolution (snare supports 1-D and 2-D)", w.dim() - 2));
  size_t dims = static_cast<size_t>(w.dim() - 2);
  int64_t group = attr_int(n, "group", 1);
  int64_t in_channels = shape_of(x.layer).at(0);
  auto weight_shape = [&] { return ints(Shape(w.sizes().begin(), w.sizes().end())); };
  if (group < 1 || in_channels % group != 0 || w.size(0) % group != 0) {
    model_error(n, fmt::format("group={} must divide the {} input channels and the {} filters", group, in_channels, w.size(0)));
  }
  if (w.size(1) != in_channels / group) {
    model_error(n, fmt::format("weight {} for {} input channels in {} group(s)", weight_shape(), in_channels, group));
  }
  Layer l;
  l.kind = dims == 1 ? LayerKind::kConv1D : LayerKind::kConv2D;
  l.units = w.size(0);
  l.groups = group;
  // One filter group per input channel is a depthwise conv (weight [C*M, 1, kh, kw] is the ir layout). With one
  // input channel that is also a plain conv: snare's writer marks its depthwise ones (and its grouped convs
  // that have one group per channel), which changes the ir kind but not what the layer computes.
  Hints hints = parse_hints(n.doc_string());
  if (dims == 2 && group == in_channels && !hints.has("grouped") && (group > 1 || hints.has("depthwise"))) {
    l.kind = LayerKind::kDepthwiseConv2D;
    l.multiplier = w.size(0) / in_channels;
    l.groups = 1;
  }
  l.kernel = Shape(w.sizes().begin() + 2, w.sizes().end());
  if (auto k = attr_ints(n, "kernel_shape"); k && *k != l.kernel) {
    model_error(n, fmt::format("kernel_shape {} but weight is {}", ints(*k), ints(Shape(w.sizes().begin(), w.sizes().end()))));
  }
  l.strides = window_attr(n, "strides", dims, Shape(dims, 1));
  l.dilation = window_attr(n, "dilations", dims, Shape(dims, 1));
  std::string input = x.layer;
  l.padding = resolve_padding(n, l, input, /*zero_pad_ok=*/true, /*same_ok=*/true);
  l.inputs = {input};
  l.weights["weight"] = w.to(at::kFloat).contiguous();
  l.use_bias = present(n, 2);
  if (l.use_bias) l.weights["bias"] = constant(n, 2).to(at::kFloat).reshape({-1}).contiguous();
  if (fuse_separable(n, l)) return;
  std::string name = add_layer(l, n);
  if (hints.has("separable") && group == in_channels) separable_depthwise_.insert(name);
  define(n.output(0), Value{name, Layout::kFirst}, true);
}

bool Reader::fuse_separable(const pb::NodeProto& n, Layer& pointwise) {
  if (pointwise.inputs.size() != 1 || !separable_depthwise_.count(pointwise.inputs[0])) return false;
  if (graph_.layers.back().name != pointwise.inputs[0] || !absorbable(n.input(0))) return false;
  const size_t dims = pointwise.kernel.size();
  if (pointwise.groups != 1 || pointwise.kernel != Shape(dims, 1) || pointwise.strides != Shape(dims, 1) ||
      pointwise.dilation != Shape(dims, 1) || pointwise.padding != ir::Padding::kValid) {
    return false;
  }
  Layer depthwise = graph_.layers.back();
  const int64_t channels = shape_of(depthwise.inputs.at(0)).at(0);
  Layer l = pointwise;
  l.kind = dims == 1 ? LayerKind::kSeparableConv1D : LayerKind::kSeparableConv2D;
  l.multiplier = depthwise.units / channels;
  l.kernel = depthwise.kernel;
  l.strides = depthwise.strides;
  l.dilation = depthwise.dilation;
  l.padding = depthwise.padding;
  l.inputs = depthwise.inputs;
  l.weights["depthwise"] = depthwise.weights.at("weight");
  graph_.layers.pop_back();
  names_.erase(depthwise.name);
  separable_depthwise_.erase(depthwise.name);
  define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
  return true;
}

void Reader::map_merge(const pb::NodeProto& n) {
  const std::string& op = n.op_type();
  for (int i = 0; i < n.input_size(); ++i) {
    if (is_const(n.input(i))) {
      unsupported(n, fmt::format("{} with the constant '{}' (snare reads Sub/Mul/Mean/Max/Min of data tensors; constant "
                                 "scaling only on the model input)", op, n.input(i)));
    }
  }
  Layer l;
  l.kind = op == "Sub" ? LayerKind::kSubtract : op == "Mul" ? LayerKind::kMultiply : op == "Mean" ? LayerKind::kAverage
           : op == "Max" ? LayerKind::kMaximum : LayerKind::kMinimum;
  Layout layout = operands(n, l);
  if (l.inputs.size() < 2) unsupported(n, fmt::format("{} of {} operand(s)", op, l.inputs.size()));
  define(n.output(0), Value{add_layer(l, n), layout}, true);
}

void Reader::map_slice(const pb::NodeProto& n) {
  const Value& v = plain_value(n, 0);
  if (v.layout != Layout::kFirst) unsupported(n, "input is channels-last (NHWC) here; snare crops NCHW tensors");
  const int64_t rank = onnx_rank(v);
  auto list = [&](int input, const char* attr) -> std::optional<std::vector<int64_t>> {
    if (opset_ < 10) return attr_ints(n, attr);
    if (!present(n, input)) return std::nullopt;
    at::Tensor t = constant(n, input).to(at::kLong).contiguous();
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  };
  std::vector<int64_t> starts = list(1, "starts").value_or(std::vector<int64_t>{});
  std::vector<int64_t> ends = list(2, "ends").value_or(std::vector<int64_t>{});
  std::vector<int64_t> axes = list(3, "axes").value_or(std::vector<int64_t>{});
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (auto steps = list(4, "steps"); steps && *steps != std::vector<int64_t>(steps->size(), 1)) {
    unsupported(n, fmt::format("steps {} (snare crops with step 1)", ints(*steps)));
  }
  if (starts.size() != ends.size() || starts.size() != axes.size()) {
    model_error(n, fmt::format("starts {}, ends {} and axes {} differ in length", ints(starts), ints(ends), ints(axes)));
  }
  if (rank != 3 && rank != 4) unsupported(n, fmt::format("slicing a rank-{} tensor (snare crops 1-D and 2-D data)", rank));
  const Shape shape = onnx_shape(v);  // without the batch axis
  Layer l;
  l.kind = rank == 3 ? LayerKind::kCropping1D : LayerKind::kCropping2D;
  l.inputs = {v.layer};
  l.pads.assign(static_cast<size_t>(2 * (rank - 2)), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (a < 2 || a >= rank) unsupported(n, fmt::format("slices axis {} (snare crops the spatial axes only)", axes[i]));
    const int64_t dim = shape.at(static_cast<size_t>(a - 1));
    int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i], e = ends[i] < 0 ? ends[i] + dim : ends[i];
    b = std::clamp<int64_t>(b, 0, dim);
    e = std::clamp<int64_t>(e, 0, dim);
    if (e <= b) unsupported(n, fmt::format("slice [{}, {}) of axis {} leaves nothing", starts[i], ends[i], axes[i]));
    l.pads[static_cast<size_t>(2 * (a - 2))] = b;
    l.pads[static_cast<size_t>(2 * (a - 2) + 1)] = dim - e;
  }
  define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
}

void Reader::map_resize(const pb::NodeProto& n) {
  const Value& v = plain_value(n, 0);
  if (v.layout != Layout::kFirst) unsupported(n, "input is channels-last (NHWC) here; snare upsamples NCHW tensors");
  const int64_t rank = onnx_rank(v);
  if (rank != 3 && rank != 4) unsupported(n, fmt::format("resizing a rank-{} tensor", rank));
  if (attr_string(n, "mode", "nearest") != "nearest") {
    unsupported(n, fmt::format("mode '{}' (snare reads nearest)", attr_string(n, "mode", "nearest")));
  }
  // Integer scales repeat each value with these: output i reads input floor(i / s) (asymmetric + floor), or
  // round((i + 0.5) / s - 0.5), which is the same since that value is never halfway.
  const std::string coords = attr_string(n, "coordinate_transformation_mode", "half_pixel");
  const std::string rounding = attr_string(n, "nearest_mode", "round_prefer_floor");
  bool repeat = (coords == "asymmetric" && rounding == "floor") ||
                ((coords == "half_pixel" || coords == "pytorch_half_pixel") && rounding.rfind("round_", 0) == 0);
  if (!repeat) {
    unsupported(n, fmt::format("coordinate_transformation_mode '{}' with nearest_mode '{}' (snare reads the modes that "
                               "repeat values: asymmetric + floor, half_pixel + round_*)", coords, rounding));
  }
  const Shape shape = onnx_shape(v);
  std::vector<double> scales;
  if (present(n, 2) && constant(n, 2).numel() > 0) {
    at::Tensor s = constant(n, 2).to(at::kDouble).contiguous();
    scales.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  } else if (present(n, 3)) {
    at::Tensor s = constant(n, 3).to(at::kLong).contiguous();
    for (int64_t i = 0; i < s.numel(); ++i) {
      int64_t in = i == 0 ? 1 : shape.at(static_cast<size_t>(i - 1));  // the batch axis counts as 1
      scales.push_back(static_cast<double>(s.data_ptr<int64_t>()[i]) / static_cast<double>(in));
    }
  } else {
    unsupported(n, "neither constant scales nor sizes");
  }
  if (static_cast<int64_t>(scales.size()) != rank || scales[0] != 1.0 || scales[1] != 1.0) {
    unsupported(n, fmt::format("scales [{}] (snare upsamples the spatial axes of [N,C,...])", fmt::join(scales, ",")));
  }
  Layer l;
  l.kind = rank == 3 ? LayerKind::kUpSampling1D : LayerKind::kUpSampling2D;
  l.inputs = {v.layer};
  for (size_t i = 2; i < scales.size(); ++i) {
    if (scales[i] < 1.0 || scales[i] != std::floor(scales[i])) {
      unsupported(n, fmt::format("scale {} (snare upsamples by whole factors)", scales[i]));
    }
    l.scale.push_back(static_cast<int64_t>(scales[i]));
  }
  define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
}

// Gemm (alpha/beta folded into the weights) and MatMul with a constant [in,out] matrix.
void Reader::map_dense(const pb::NodeProto& n) {
  const Value& x = plain_value(n, 0);
  if (onnx_rank(x) != 2) unsupported(n, fmt::format("input has rank {}; snare maps only [N,features] to Dense", onnx_rank(x)));
  at::Tensor w = constant(n, 1).to(at::kFloat);
  if (w.dim() != 2) unsupported(n, fmt::format("weight has rank {}", w.dim()));
  Layer l;
  l.kind = LayerKind::kDense;
  l.inputs = {x.layer};
  if (n.op_type() == "Gemm") {
    if (attr_int(n, "transA", 0) != 0) unsupported(n, "transA=1");
    if (attr_int(n, "transB", 0) == 0) w = w.t();
    w = w * attr_float(n, "alpha", 1.0f);
  } else {
    w = w.t();
  }
  l.units = w.size(0);
  l.weights["weight"] = w.contiguous();
  l.use_bias = n.op_type() == "Gemm" && present(n, 2);
  if (l.use_bias) {
    at::Tensor c = constant(n, 2).to(at::kFloat) * attr_float(n, "beta", 1.0f);
    if (c.numel() != 1 && c.numel() != l.units) {
      unsupported(n, fmt::format("bias C has shape {}; snare needs one value per output", ints(Shape(c.sizes().begin(), c.sizes().end()))));
    }
    l.weights["bias"] = c.reshape({-1}).expand({l.units}).contiguous();
  }
  define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
}

void Reader::map_add(const pb::NodeProto& n) {
  if (n.input_size() != 2) model_error(n, "Add needs 2 inputs");
  bool c0 = is_const(n.input(0)), c1 = is_const(n.input(1));
  if (!c0 && !c1) {
    map_sum(n);
    return;
  }
  int vi = c0 ? 1 : 0;
  const std::string& tensor = n.input(vi);
  const Value& v = value(n, vi);
  if (!elementwise_ok(v.layout)) unsupported(n, fmt::format("input '{}' is in {} layout here", tensor, layout_name(v.layout)));
  const at::Tensor& c = constant(n, 1 - vi);
  Layer& l = graph_.layer(v.layer);
  bool owner = l.kind == LayerKind::kDense || l.kind == LayerKind::kConv1D || l.kind == LayerKind::kConv2D ||
               l.kind == LayerKind::kDepthwiseConv2D || l.kind == LayerKind::kSeparableConv1D ||
               l.kind == LayerKind::kSeparableConv2D;
  auto cannot = [&](const std::string& why) {
    unsupported(n, fmt::format("adds constant '{}' {} to '{}', which snare can only fold into the bias of the Dense/Conv "
                               "that produces it: {}",
                               n.input(1 - vi), ints(Shape(c.sizes().begin(), c.sizes().end())), v.layer, why));
  };
  if (!owner) cannot(fmt::format("it comes from a {} layer", ir::kind_name(l.kind)));
  if (l.activation != ir::Activation::kLinear) cannot("an activation already follows the layer");
  if (!absorbable(tensor)) cannot("another node also reads the value before the add");
  // Broadcast the constant against [N, S...] and require one value per channel.
  Shape s = onnx_shape(v);
  auto rank = static_cast<int64_t>(s.size()) + 1;
  int64_t channel = channel_axis(v.layout, rank);
  if (c.dim() > rank) cannot("the constant has more axes than the data");
  std::vector<int64_t> cs(static_cast<size_t>(rank - c.dim()), 1);
  cs.insert(cs.end(), c.sizes().begin(), c.sizes().end());
  for (int64_t a = 0; a < rank; ++a) {
    if (cs[a] == 1) continue;
    if (a != channel) cannot("it varies along a non-channel axis");
    if (cs[a] != l.units) cannot(fmt::format("it has {} values but the layer has {} channels", cs[a], l.units));
  }
  at::Tensor vec = c.to(at::kFloat).reshape({-1}).expand({l.units});
  at::Tensor bias = l.use_bias ? l.weights.at("bias") : at::zeros({l.units}, at::kFloat);
  l.weights["bias"] = (bias + vec).contiguous();
  l.use_bias = true;
  define(n.output(0), v, true);
}

Layout Reader::operands(const pb::NodeProto& n, Layer& l) const {
  Layout layout = Layout::kFirst;
  for (int i = 0; i < n.input_size(); ++i) {
    const Value& v = plain_value(n, i);
    if (i == 0) layout = v.layout;
    if (v.layout != layout) unsupported(n, "operands are in different layouts (NCHW and NHWC)");
    l.inputs.push_back(v.layer);
  }
  return layout;
}

// Elementwise sum of data tensors -> ir Add.
void Reader::map_sum(const pb::NodeProto& n) {
  Layer l;
  l.kind = LayerKind::kAdd;
  Layout layout = operands(n, l);
  if (l.inputs.size() < 2) model_error(n, "needs at least 2 inputs");
  define(n.output(0), Value{add_layer(l, n), layout}, true);
}

void Reader::map_activation(const pb::NodeProto& n) {
  const std::string& op = n.op_type();
  Hints hints = parse_hints(n.doc_string());
  const Value& v = op == "Softmax" ? plain_value(n, 0) : value(n, 0);
  ir::Activation a = ir::Activation::kLinear;
  double alpha = 0.0;
  if (op == "Relu") {
    a = ir::Activation::kRelu;
  } else if (op == "Tanh") {
    a = ir::Activation::kTanh;
  } else if (op == "Sigmoid") {
    a = ir::Activation::kSigmoid;
  } else if (op == "LeakyRelu") {
    a = ir::Activation::kLeakyRelu;
    alpha = hints.real("alpha", attr_float(n, "alpha", 0.01f));
  } else if (op == "Elu") {
    a = ir::Activation::kElu;
    // snare's Elu reads alpha 0 as the default 1.0; an absent attribute stays 0 so files round-trip.
    alpha = find_attribute(n, "alpha") ? hints.real("alpha", attr_float(n, "alpha", 1.0f)) : 0.0;
  } else if (op == "Selu") {
    if (std::abs(attr_float(n, "alpha", 1.67326319f) - 1.67326319f) > 1e-6f ||
        std::abs(attr_float(n, "gamma", 1.05070102f) - 1.05070102f) > 1e-6f) {
      unsupported(n, "Selu with non-default alpha/gamma");
    }
    a = ir::Activation::kSelu;
  } else if (op == "Softmax") {
    a = ir::Activation::kSoftmax;
    int64_t rank = onnx_rank(v);
    int64_t channel = v.layout == Layout::kLast ? rank - 1 : 1;
    int64_t axis = attr_int(n, "axis", opset_ < 13 ? 1 : -1);
    if (axis < 0) axis += rank;
    // Before opset 13 Softmax flattens the axes from `axis` on; only the last axis is per-channel.
    bool ok = opset_ < 13 ? axis == rank - 1 && channel == rank - 1 : axis == channel;
    if (!ok) unsupported(n, fmt::format("softmax over axis {} of a rank-{} {} tensor (snare: over channels only)", axis, rank, layout_name(v.layout)));
  } else if (op == "HardSwish") {
    a = ir::Activation::kHardSwish;
  } else if (op == "HardSigmoid") {
    if (std::abs(attr_float(n, "alpha", 0.2f) - 0.2f) > 1e-6f || std::abs(attr_float(n, "beta", 0.5f) - 0.5f) > 1e-6f) {
      unsupported(n, "HardSigmoid with alpha/beta other than 0.2/0.5 (Keras 2's hard_sigmoid)");
    }
    a = ir::Activation::kHardSigmoid;
  } else if (op == "Softplus") {
    a = ir::Activation::kSoftplus;
  } else if (op == "Softsign") {
    a = ir::Activation::kSoftsign;
  } else if (op == "Exp") {
    a = ir::Activation::kExponential;
  } else if (op == "Identity") {
    a = ir::Activation::kLinear;
  } else {
    throw InternalError("map_activation called for " + op);
  }
  place_activation(n, n.input(0), a, alpha);
}

void Reader::place_activation(const pb::NodeProto& n, const std::string& x, ir::Activation a, double alpha) {
  Hints hints = parse_hints(n.doc_string());
  const Value& v = value_of(n, x);
  if (!elementwise_ok(v.layout)) unsupported(n, fmt::format("input '{}' is in {} layout here", x, layout_name(v.layout)));
  Layer& prev = graph_.layer(v.layer);
  bool fusable = prev.kind == LayerKind::kDense || prev.kind == LayerKind::kConv1D || prev.kind == LayerKind::kConv2D ||
                 prev.kind == LayerKind::kDepthwiseConv2D || prev.kind == LayerKind::kSeparableConv1D ||
                 prev.kind == LayerKind::kSeparableConv2D;
  if (!hints.has("layer") && fusable && prev.activation == ir::Activation::kLinear && absorbable(x)) {
    prev.activation = a;
    prev.alpha = alpha;
    define(n.output(0), v, true);
    return;
  }
  Layer l;
  l.kind = LayerKind::kActivation;
  l.inputs = {v.layer};
  l.activation = a;
  l.alpha = alpha;
  define(n.output(0), Value{add_layer(l, n), v.layout}, true);
}

// Clip(0, 6) is ReLU6 (tf2onnx's tf.nn.relu6, PyTorch's ReLU6); Clip(0, +inf) is ReLU. The bounds are
// attributes before opset 11 and optional constant inputs from opset 11 on.
void Reader::map_clip(const pb::NodeProto& n) {
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (opset_ < 11) {
    lo = attr_float(n, "min", lo);
    hi = attr_float(n, "max", hi);
  } else {
    auto bound = [&](int i, float fallback) {
      if (!present(n, i)) return fallback;
      const at::Tensor& t = constant(n, i);
      if (t.numel() != 1) unsupported(n, fmt::format("Clip bound input {} has {} values; ONNX wants a scalar", i, t.numel()));
      return t.to(at::kFloat).reshape({}).item<float>();
    };
    lo = bound(1, lo);
    hi = bound(2, hi);
  }
  ir::Activation a = ir::Activation::kLinear;
  if (lo == 0.0f && hi == 6.0f) {
    a = ir::Activation::kRelu6;
  } else if (lo == 0.0f && hi >= std::numeric_limits<float>::max()) {
    a = ir::Activation::kRelu;
  } else {
    unsupported(n, fmt::format("Clip(min={}, max={}): snare supports Clip(0, 6) (ReLU6) and Clip(0, inf) (ReLU)", lo, hi));
  }
  place_activation(n, n.input(0), a, 0.0);
}

void Reader::map_pool(const pb::NodeProto& n) {
  if (is_unit(value(n, 0).layout)) return map_unit_window(n, &Reader::map_pool);
  const Value& x = plain_value(n, 0);
  if (x.layout != Layout::kFirst) unsupported(n, "input is channels-last (NHWC) here; ONNX pools read NCHW");
  if (n.output_size() > 1 && !n.output(1).empty() && uses_[n.output(1)] > 0) unsupported(n, "the Indices output is used");
  bool max = n.op_type() == "MaxPool";
  Layer l;
  l.kernel = attr_ints(n, "kernel_shape").value_or(Shape{});
  size_t dims = l.kernel.size();
  if (dims != 1 && dims != 2) unsupported(n, fmt::format("{}-D pooling", dims));
  l.kernel = window_attr(n, "kernel_shape", dims, l.kernel);
  l.kind = dims == 1 ? (max ? LayerKind::kMaxPool1D : LayerKind::kAvgPool1D) : (max ? LayerKind::kMaxPool2D : LayerKind::kAvgPool2D);
  l.strides = window_attr(n, "strides", dims, Shape(dims, 1));
  if (auto d = attr_ints(n, "dilations"); d && *d != Shape(dims, 1)) unsupported(n, "dilated pooling " + ints(*d));
  std::string input = x.layer;
  bool count_pads = !max && attr_int(n, "count_include_pad", 0) != 0;
  // Max pools ignore padded pixels and Keras' "same" average excludes them; a counted zero pad is a
  // ZeroPadding layer before a valid pool.
  l.padding = resolve_padding(n, l, input, /*zero_pad_ok=*/count_pads, /*same_ok=*/!count_pads);
  if (attr_int(n, "ceil_mode", 0) != 0) {
    const Shape& in = shape_of(input);
    for (size_t i = 0; i < dims && l.padding == ir::Padding::kValid; ++i) {
      int64_t span = in[i + 1] - l.kernel[i];
      if (span % l.strides[i] != 0) unsupported(n, "ceil_mode=1 changes the output size here");
    }
  }
  l.inputs = {input};
  define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
}

void Reader::map_global_pool(const pb::NodeProto& n) {
  const Value& x = plain_value(n, 0);
  if (x.layout != Layout::kFirst) unsupported(n, "input is channels-last (NHWC) here; ONNX pools read NCHW");
  size_t dims = shape_of(x.layer).size() - 1;
  if (dims != 1 && dims != 2) unsupported(n, fmt::format("{}-D global pooling", dims));
  Layer l;
  bool max = n.op_type() == "GlobalMaxPool";
  l.kind = dims == 1 ? (max ? LayerKind::kGlobalMaxPool1D : LayerKind::kGlobalAvgPool1D)
                     : (max ? LayerKind::kGlobalMaxPool2D : LayerKind::kGlobalAvgPool2D);
  l.inputs = {x.layer};
  // Read as [N,C] by Flatten/Squeeze/Reshape (a keepdims layout they drop); anything else (a 1x1 Conv or the Mul of
  // a squeeze-and-excitation block) reads the [N,C,1,1] tensor itself: an ir pool with keepdims.
  bool flattened = true;
  for (const auto& r : model_.graph().node()) {
    bool reads = std::find(r.input().begin(), r.input().end(), n.output(0)) != r.input().end();
    if (reads && r.op_type() != "Flatten" && r.op_type() != "Squeeze" && r.op_type() != "Reshape") flattened = false;
  }
  for (const auto& o : model_.graph().output()) flattened = flattened && o.name() != n.output(0);
  l.keepdims = !flattened;
  define(n.output(0), Value{add_layer(l, n), flattened ? Layout::kKeepDims : Layout::kFirst}, true);
}

void Reader::map_flatten(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  int64_t rank = onnx_rank(v);
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < 0) axis += rank;
  if (axis != 1) unsupported(n, fmt::format("axis {} (snare flattens per sample: axis 1)", axis));
  if (v.layout == Layout::kKeepDims) {  // [N,C,1,1] -> [N,C]: same data, no layer
    alias(n, Layout::kFirst);
    return;
  }
  if (v.layout != Layout::kFirst && v.layout != Layout::kLast) unsupported(n, fmt::format("input in {} layout", layout_name(v.layout)));
  Layer l;
  l.kind = LayerKind::kFlatten;
  l.inputs = {v.layer};
  Hints hints = parse_hints(n.doc_string());
  l.channels_last = shape_of(v.layer).size() <= 1 ? hints.values["channels_last"] == "1" : v.layout == Layout::kLast;
  bool folded = hints.values["channels_last_folded"] == "1" && v.layout == Layout::kFirst && shape_of(v.layer).size() >= 2;
  std::string name = add_layer(l, n);
  if (folded) folded_flattens_.push_back(name);
  define(n.output(0), Value{name, Layout::kFirst}, true);
}

void Reader::map_reshape(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  std::vector<int64_t> raw;
  if (opset_ < 5) {
    raw = attr_ints(n, "shape").value_or(std::vector<int64_t>{});
  } else {
    const at::Tensor& s = constant(n, 1);
    raw.assign(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
  }
  if (attr_int(n, "allowzero", 0) != 0 && std::count(raw.begin(), raw.end(), 0) > 0) unsupported(n, "allowzero=1 with a zero in the shape");
  const bool batch_kept = !raw.empty() && (raw[0] == -1 || raw[0] == 0 || raw[0] == fixed_batch_);
  if (v.layout == Layout::kLstmYh && !graph_.layer(v.layer).bidirectional) {  // [1,N,U] -> [N,U]
    if (raw.size() == 2 && raw[1] == shape_of(v.layer).at(0) && (raw[0] == -1 || raw[0] == fixed_batch_)) {
      alias(n, Layout::kFirst);
      return;
    }
    unsupported(n, fmt::format("reshape of a recurrent Y_h output to {}", ints(raw)));
  }
  if (v.layout == Layout::kYhDirsLast) {  // [N,2,U] -> [N,2U]: the directions concatenated
    if (raw.size() == 2 && batch_kept && (raw[1] == -1 || raw[1] == shape_of(v.layer).at(0))) {
      alias(n, Layout::kFirst);
      return;
    }
    unsupported(n, fmt::format("reshape of a bidirectional Y_h [N,2,U] to {} (snare: [N,2U])", ints(raw)));
  }
  if (v.layout == Layout::kYDirsLast) {  // [L,N,2,U] -> [L,N,2U]
    const Shape& s = shape_of(v.layer);  // (2U, L)
    bool steps = raw.size() == 3 && (raw[0] == 0 || raw[0] == s.at(1));
    bool batch = raw.size() == 3 && (raw[1] == 0 || (raw[1] == -1 && raw[2] != -1) || raw[1] == fixed_batch_);
    if (steps && batch && (raw[2] == -1 || raw[2] == s.at(0))) {
      alias(n, Layout::kTime);
      return;
    }
    unsupported(n, fmt::format("reshape of a bidirectional Y [L,N,2,U] to {} (snare: [L,N,2U])", ints(raw)));
  }
  if (v.layout != Layout::kFirst && v.layout != Layout::kLast && v.layout != Layout::kKeepDims) {
    unsupported(n, fmt::format("input in {} layout", layout_name(v.layout)));
  }
  if (raw.empty()) unsupported(n, "reshape to a scalar");
  Shape in_onnx = onnx_shape(v);
  // The first entry must keep the batch: 0 (copy), -1 with every other entry fixed, or the fixed batch.
  // kBatchDim: the batch size read with Shape (PyTorch's x.view(x.size(0), -1)).
  bool batch_ok = raw[0] == 0 || raw[0] == kBatchDim || (fixed_batch_ > 0 && raw[0] == fixed_batch_) ||
                  (raw[0] == -1 && std::count(raw.begin() + 1, raw.end(), -1) == 0);
  if (std::count(raw.begin() + 1, raw.end(), kBatchDim) > 0) unsupported(n, "the batch size appears past the first axis of the shape");
  auto shown = raw;
  std::replace(shown.begin(), shown.end(), kBatchDim, int64_t{0});
  if (!batch_ok) unsupported(n, fmt::format("shape {} does not keep the batch axis first", ints(shown)));
  Shape target(raw.begin() + 1, raw.end());
  for (int64_t d : target) {
    if (d < -1 || d > product(in_onnx)) model_error(n, fmt::format("shape {} has an impossible size", ints(shown)));
  }
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0) {
      if (i + 1 >= in_onnx.size() + 1) model_error(n, "0 in shape beyond the input's rank");
      target[i] = in_onnx[i];
    }
  }
  Shape resolved = target;
  auto unknown = std::find(resolved.begin(), resolved.end(), -1);
  if (unknown != resolved.end()) {
    *unknown = 1;
    *unknown = product(in_onnx) / product(resolved);
  }
  if (product(resolved) != product(in_onnx)) {
    model_error(n, fmt::format("cannot reshape {} to {}", ir::shape_string(in_onnx), ints(raw)));
  }
  const Shape& ir_shape = shape_of(v.layer);
  Hints hints = parse_hints(n.doc_string());
  bool data_first = v.layout == Layout::kFirst || v.layout == Layout::kKeepDims || layouts_agree(ir_shape);
  bool data_last = v.layout == Layout::kLast || layouts_agree(ir_shape);
  if (!hints.has("layer")) {
    // Reshapes that only re-label the same bytes (NHWC<->NCHW of a 1-channel image, keepdims) are aliases.
    if (resolved == ir_shape && data_first) return alias(n, Layout::kFirst);
    if (resolved.size() >= 2 && resolved == rotate_to_last(ir_shape) && data_last) return alias(n, Layout::kLast);
  }
  Layer l;
  l.inputs = {v.layer};
  if (resolved.size() == 1 && !hints.has("layer")) {
    l.kind = LayerKind::kFlatten;
    l.channels_last = !data_first;
    define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
    return;
  }
  l.kind = LayerKind::kReshape;
  bool cl = ir_shape.size() >= 2 && v.layout != Layout::kKeepDims ? v.layout == Layout::kLast
                                                                  : hints.values["channels_last"] == "1";
  l.channels_last = cl;
  l.target_shape = cl ? rotate_to_first(target) : target;
  define(n.output(0), Value{add_layer(l, n), cl ? Layout::kLast : Layout::kFirst}, true);
}

void Reader::map_transpose(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  int64_t rank = onnx_rank(v);
  std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
  if (perm.empty()) {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  std::vector<int64_t> identity(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i) identity[i] = i;
  // snare writes its Permute layers with a "permute" hint: they stay layers even where the perm looks like a
  // layout change (NCHW->NHWC), so read -> write -> read keeps the graph.
  bool snare_permute = parse_hints(n.doc_string()).has("permute");
  if (perm == identity && !snare_permute) return alias(n, v.layout);
  if (is_unit(v.layout)) {  // NCHW <-> NHWC of a 1-D value unsqueezed to 2-D
    const Layout swap[][2] = {{Layout::kFirstUnitH, Layout::kLastUnitH}, {Layout::kFirstUnitW, Layout::kLastUnitW}};
    for (const auto& [first, last] : swap) {
      if (v.layout == first && perm == perm_to_last(4)) return alias(n, last);
      if (v.layout == last && perm == perm_to_first(4)) return alias(n, first);
    }
    unsupported(n, fmt::format("perm {} of a {} tensor (snare: NCHW<->NHWC only)", ints(perm), layout_name(v.layout)));
  }
  // A bidirectional output's direction axis moved next to the units, before a Reshape concatenates the two (the
  // form LibTorch exports): only the concat merge mode reads it so.
  bool concat_bi = (v.layout == Layout::kLstmY || v.layout == Layout::kLstmYh) && graph_.layer(v.layer).bidirectional &&
                   graph_.layer(v.layer).merge_mode == ir::MergeMode::kConcat;
  if (concat_bi && v.layout == Layout::kLstmY && perm == std::vector<int64_t>{0, 2, 1, 3}) return alias(n, Layout::kYDirsLast);
  if (concat_bi && v.layout == Layout::kLstmYh && perm == std::vector<int64_t>{1, 0, 2}) return alias(n, Layout::kYhDirsLast);
  if (rank >= 3 && !snare_permute) {
    if (v.layout == Layout::kFirst && perm == perm_to_last(rank)) return alias(n, Layout::kLast);
    if (v.layout == Layout::kLast && perm == perm_to_first(rank)) return alias(n, Layout::kFirst);
    if (v.layout == Layout::kFirst && perm == perm_to_first(rank)) {
      // A channels-first Reshape of a flat vector followed by NHWC->NCHW (tf2onnx's Keras Reshape
      // before a conv): the reshape was channels-last all along.
      Layer& l = graph_.layer(v.layer);
      if (l.kind == LayerKind::kReshape && !l.channels_last && shape_of(l.inputs.at(0)).size() <= 1 && absorbable(n.input(0))) {
        l.channels_last = true;
        l.target_shape = rotate_to_first(l.target_shape);
        graph_.infer_shapes();
        return alias(n, Layout::kFirst);
      }
    }
  }
  if (rank == 3 && !snare_permute) {
    if (v.layout == Layout::kFirst && perm == std::vector<int64_t>{2, 0, 1}) return alias(n, Layout::kTime);
    if (v.layout == Layout::kLast && perm == std::vector<int64_t>{1, 0, 2}) return alias(n, Layout::kTime);
    if (v.layout == Layout::kTime && perm == std::vector<int64_t>{1, 2, 0}) return alias(n, Layout::kFirst);
    if (v.layout == Layout::kTime && perm == std::vector<int64_t>{1, 0, 2}) return alias(n, Layout::kLast);
  }
  if ((v.layout == Layout::kFirst || v.layout == Layout::kLast) && rank >= 2 && perm.size() == static_cast<size_t>(rank) &&
      perm[0] == 0) {
    // Any other reordering of the per-sample axes is an ir Permute; its output is held channels-first (the ONNX
    // output axes are the ir axes). ONNX axis a of the input is ir axis a-1 (NCHW) or, NHWC, 0 for the last axis.
    Layer l;
    l.kind = LayerKind::kPermute;
    l.inputs = {v.layer};
    for (size_t i = 1; i < perm.size(); ++i) {
      int64_t a = perm[i];
      if (a < 1 || a >= rank) break;
      l.permutation.push_back(v.layout == Layout::kFirst ? a - 1 : (a == rank - 1 ? 0 : a));
    }
    if (l.permutation.size() == static_cast<size_t>(rank - 1)) {
      define(n.output(0), Value{add_layer(l, n), Layout::kFirst}, true);
      return;
    }
  }
  unsupported(n, fmt::format("perm {} on a {} tensor of shape [N,{}] is not an NCHW<->NHWC or LSTM time-major conversion",
                             ints(perm), layout_name(v.layout), fmt::join(onnx_shape(v), ",")));
}

std::vector<int64_t> Reader::axes_of(const pb::NodeProto& n, int64_t input_since, int64_t rank) const {
  std::vector<int64_t> axes;
  if (opset_ < input_since) {
    axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
  } else if (present(n, 1)) {
    at::Tensor a = constant(n, 1).to(at::kLong).contiguous();
    axes.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
  }
  for (auto& a : axes) {
    if (a < -rank || a >= rank) model_error(n, fmt::format("axis {} out of range for rank {}", a, rank));
    a = a < 0 ? a + rank : a;
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

// tf2onnx writes Keras Conv1D / MaxPool1D / AveragePool1D as 2-D ops on a tensor with a unit spatial axis. The
// node is mapped as its 1-D form: attributes and weight without the unit axis, reading a channels-first alias.
void Reader::map_unit_window(const pb::NodeProto& n, MapFn map) {
  const Value x = value(n, 0);
  if (x.layout != Layout::kFirstUnitH && x.layout != Layout::kFirstUnitW) {
    unsupported(n, fmt::format("input is {} here; ONNX {} reads NCHW", layout_name(x.layout), n.op_type()));
  }
  const int drop = x.layout == Layout::kFirstUnitH ? 0 : 1;  // the unit axis among the two spatial axes
  pb::NodeProto one = n;
  for (auto& a : *one.mutable_attribute()) {
    const std::string& name = a.name();
    if (name != "kernel_shape" && name != "strides" && name != "dilations" && name != "pads") continue;
    std::vector<int64_t> v(a.ints().begin(), a.ints().end());
    std::vector<int64_t> kept;
    if (name == "pads") {
      if (v.size() != 4) model_error(n, fmt::format("pads {} for 2 spatial axes", ints(v)));
      if (v[drop] != 0 || v[drop + 2] != 0) unsupported(n, fmt::format("pads {} pad the unit axis of a 1-D tensor written as 2-D", ints(v)));
      kept = {v[1 - drop], v[3 - drop]};
    } else {
      if (v.size() != 2) model_error(n, fmt::format("{} {} for 2 spatial axes", name, ints(v)));
      if (name == "kernel_shape" && v[drop] != 1) {
        unsupported(n, fmt::format("kernel {} spans the unit axis of a 1-D tensor written as 2-D", ints(v)));
      }
      kept = {v[1 - drop]};  // stride / dilation along a unit axis with a unit kernel change nothing
    }
    a.clear_ints();
    for (int64_t k : kept) a.add_ints(k);
  }
  std::string alias_name = n.input(0) + "#1d";
  values_[alias_name] = Value{x.layer, Layout::kFirst};
  one.set_input(0, alias_name);
  if (n.op_type() == "Conv") {
    const at::Tensor& w = constant(n, 1);
    if (w.dim() != 4 || w.size(2 + drop) != 1) {
      unsupported(n, fmt::format("weight {} spans the unit axis of a 1-D tensor written as 2-D", ints(Shape(w.sizes().begin(), w.sizes().end()))));
    }
    std::string weight_name = n.input(1) + "#1d";
    constants_[weight_name] = w.squeeze(2 + drop).contiguous();
    one.set_input(1, weight_name);
  }
  (this->*map)(one);
  define(n.output(0), Value{values_.at(n.output(0)).layer, x.layout}, true);
}

void Reader::map_unsqueeze(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  int64_t rank = onnx_rank(v);
  std::vector<int64_t> axes = axes_of(n, 13, rank + 1);
  if (shape_of(v.layer).size() == 2 && axes.size() == 1) {
    int64_t a = axes[0];
    if (v.layout == Layout::kFirst && (a == 2 || a == 3)) return alias(n, a == 2 ? Layout::kFirstUnitH : Layout::kFirstUnitW);
    if (v.layout == Layout::kLast && (a == 1 || a == 2)) return alias(n, a == 1 ? Layout::kLastUnitH : Layout::kLastUnitW);
  }
  unsupported(n, fmt::format("unsqueeze of axes {} of a {} tensor [N,{}] (snare: a 1-D [N,C,L] or [N,L,C] tensor to 2-D "
                             "around Conv and pools)",
                             ints(axes), layout_name(v.layout), fmt::join(onnx_shape(v), ",")));
}

// The shape of a data tensor, with kBatchDim for the batch size: a constant for the shape arithmetic that
// follows (Gather, Unsqueeze, Concat), as in PyTorch's x.view(x.size(0), -1).
void Reader::map_shape(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  if (!elementwise_ok(v.layout) && v.layout != Layout::kKeepDims) {
    unsupported(n, fmt::format("shape of a {} tensor (the batch axis is not first)", layout_name(v.layout)));
  }
  std::vector<int64_t> dims{kBatchDim};
  for (int64_t d : onnx_shape(v)) dims.push_back(d);
  auto rank = static_cast<int64_t>(dims.size());
  auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
  int64_t start = clamp(attr_int(n, "start", 0)), end = clamp(attr_int(n, "end", rank));
  std::vector<int64_t> out(dims.begin() + start, dims.begin() + std::max(start, end));
  constants_[n.output(0)] = at::tensor(out, at::kLong);
  if (start == 0 && end > 0) batch_dependent_.insert(n.output(0));
}

void Reader::map_cast(const pb::NodeProto& n) {
  unsupported(n, "casts data (snare folds a Cast to float of the graph input, Casts after the output and Casts of constants)");
}

void Reader::map_gather(const pb::NodeProto& n) {
  unsupported(n, "gathers from data (snare folds Gather on constants and shapes only, e.g. x.size(0))");
}

// ReduceMean / ReduceMax over every spatial axis is a global pool (tf2onnx's Keras GlobalAveragePooling, PyTorch's
// x.mean((2, 3))). keepdims=1 keeps [N,C,1,1] like GlobalAveragePool.
void Reader::map_reduce(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  if (v.layout == Layout::kLstmY || v.layout == Layout::kLstmYh) return map_direction_reduce(n);
  if (n.op_type() == "ReduceSum" || n.op_type() == "ReduceProd") {
    unsupported(n, fmt::format("{} of a {} tensor (snare reads it only as the merge of a bidirectional recurrent layer)",
                               n.op_type(), layout_name(v.layout)));
  }
  if (v.layout != Layout::kFirst && v.layout != Layout::kLast) {
    unsupported(n, fmt::format("input '{}' is in {} layout here", n.input(0), layout_name(v.layout)));
  }
  int64_t rank = onnx_rank(v);
  std::vector<int64_t> axes = axes_of(n, 18, rank);
  std::vector<int64_t> spatial;
  for (int64_t a = 1; a < rank; ++a) {
    if (a != channel_axis(v.layout, rank)) spatial.push_back(a);
  }
  size_t dims = spatial.size();
  if (axes != spatial || (dims != 1 && dims != 2)) {
    unsupported(n, fmt::format("reduces axes {} of a {} tensor [N,{}]; snare maps a reduction over all spatial axes {} "
                               "of a 1-D or 2-D tensor (a global pool)",
                               axes.empty() ? std::string("(all)") : ints(axes), layout_name(v.layout),
                               fmt::join(onnx_shape(v), ","), ints(spatial)));
  }
  bool keepdims = attr_int(n, "keepdims", 1) != 0;
  if (keepdims && v.layout == Layout::kLast) unsupported(n, "keepdims=1 on a channels-last tensor");
  bool max = n.op_type() == "ReduceMax";
  Layer l;
  l.kind = dims == 1 ? (max ? LayerKind::kGlobalMaxPool1D : LayerKind::kGlobalAvgPool1D)
                     : (max ? LayerKind::kGlobalMaxPool2D : LayerKind::kGlobalAvgPool2D);
  l.inputs = {v.layer};
  define(n.output(0), Value{add_layer(l, n), keepdims ? Layout::kKeepDims : Layout::kFirst}, true);
}

void Reader::map_squeeze(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  int64_t rank = onnx_rank(v);
  std::vector<int64_t> axes = axes_of(n, 13, rank);
  const bool one_direction = (v.layout == Layout::kLstmY || v.layout == Layout::kLstmYh) && !graph_.layer(v.layer).bidirectional;
  if (one_direction && v.layout == Layout::kLstmYh && axes == std::vector<int64_t>{0}) return alias(n, Layout::kFirst);
  if (one_direction && v.layout == Layout::kLstmY && axes == std::vector<int64_t>{1}) return alias(n, Layout::kTime);
  if (is_unit(v.layout) && axes == std::vector<int64_t>{unit_axis(v.layout)}) return alias(n, squeezed(v.layout));
  if (v.layout == Layout::kKeepDims) {
    std::vector<int64_t> spatial;
    for (int64_t i = 2; i < rank; ++i) spatial.push_back(i);
    if (axes == spatial) return alias(n, Layout::kFirst);
  }
  unsupported(n, fmt::format("squeeze of axes {} of a {} tensor (snare: only one-direction recurrent outputs, kept pool "
                             "axes and the unit axis of a 1-D conv or pool written as 2-D)",
                             ints(axes), layout_name(v.layout)));
}

void Reader::map_concat(const pb::NodeProto& n) {
  Layer l;
  l.kind = LayerKind::kConcatenate;
  Layout layout = operands(n, l);
  int64_t rank = onnx_rank(value(n, 0));
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < 0) axis += rank;
  if (axis <= 0 || axis >= rank) unsupported(n, fmt::format("concat along axis {} (the batch axis or out of range)", axis));
  l.axis = layout == Layout::kLast ? (axis == rank - 1 ? 0 : axis) : axis - 1;
  define(n.output(0), Value{add_layer(l, n), layout}, true);
}

void Reader::map_pad(const pb::NodeProto& n) {
  const Value& v = plain_value(n, 0);
  std::string mode = attr_string(n, "mode", "constant");
  if (mode != "constant") unsupported(n, "mode '" + mode + "' (snare supports constant zero padding)");
  std::vector<int64_t> pads;
  float fill = 0.0f;
  if (opset_ < 11) {
    pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{});
    fill = attr_float(n, "value", 0.0f);
  } else {
    const at::Tensor& p = constant(n, 1);
    pads.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
    if (present(n, 2)) fill = constant(n, 2).item<float>();
    if (present(n, 3)) unsupported(n, "the axes input");
  }
  if (fill != 0.0f) unsupported(n, fmt::format("padding value {} (snare supports 0)", fill));
  int64_t rank = onnx_rank(v);
  if (static_cast<int64_t>(pads.size()) != 2 * rank) model_error(n, fmt::format("pads {} for rank {}", ints(pads), rank));
  if (rank != 3 && rank != 4) unsupported(n, fmt::format("padding a rank-{} tensor", rank));
  int64_t channel = v.layout == Layout::kLast ? rank - 1 : 1;
  Layer l;
  l.kind = rank == 3 ? LayerKind::kZeroPadding1D : LayerKind::kZeroPadding2D;
  l.inputs = {v.layer};
  for (int64_t a = 0; a < rank; ++a) {
    if (pads[a] < 0 || pads[a + rank] < 0) unsupported(n, "negative pads (cropping) " + ints(pads));
    if (a == 0 || a == channel) {
      if (pads[a] != 0 || pads[a + rank] != 0) unsupported(n, "padding the batch or channel axis " + ints(pads));
      continue;
    }
    l.pads.push_back(pads[a]);
    l.pads.push_back(pads[a + rank]);
  }
  define(n.output(0), Value{add_layer(l, n), v.layout}, true);
}

void Reader::map_batchnorm(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  if (!elementwise_ok(v.layout)) unsupported(n, fmt::format("input '{}' is in {} layout here", n.input(0), layout_name(v.layout)));
  if (channel_axis(v.layout, onnx_rank(v)) != 1) unsupported(n, "input is channels-last (NHWC); ONNX normalises axis 1");
  for (int i = 1; i < n.output_size(); ++i) {
    if (!n.output(i).empty() && uses_[n.output(i)] > 0) unsupported(n, "training outputs are used");
  }
  if (attr_int(n, "training_mode", 0) != 0) unsupported(n, "training_mode=1");
  if (attr_int(n, "spatial", 1) != 1) unsupported(n, "spatial=0");
  Hints hints = parse_hints(n.doc_string());
  Layer l;
  l.kind = LayerKind::kBatchNorm;
  l.inputs = {v.layer};
  l.epsilon = hints.real("epsilon", attr_float(n, "epsilon", 1e-5f));
  l.momentum = hints.real("momentum", attr_float(n, "momentum", 0.9f));
  const char* names[] = {"weight", "bias", "running_mean", "running_var"};
  for (int i = 0; i < 4; ++i) l.weights[names[i]] = constant(n, i + 1).to(at::kFloat).reshape({-1}).contiguous();
  // snare's hints for a layer without gamma / beta (Keras scale=False / center=False), honoured only while the
  // written scale is still all ones / B all zeros.
  if (hints.has("no_scale") && l.weights["weight"].eq(1).all().item<bool>()) {
    l.use_scale = false;
    l.weights.erase("weight");
  }
  if (hints.has("no_center") && l.weights["bias"].eq(0).all().item<bool>()) {
    l.use_bias = false;
    l.weights.erase("bias");
  }
  define(n.output(0), Value{add_layer(l, n), v.layout}, true);
}

void Reader::map_recurrent(const pb::NodeProto& n) {
  const std::string& op = n.op_type();
  const LayerKind kind = op == "LSTM" ? LayerKind::kLSTM : op == "GRU" ? LayerKind::kGRU : LayerKind::kSimpleRNN;
  const int64_t gates = ir::gate_count(kind);
  const Value& x = value(n, 0);
  if (x.layout != Layout::kTime) {
    unsupported(n, fmt::format("input is {} [N,...]; snare reads {}s whose input is transposed to [L,N,C]", layout_name(x.layout), op));
  }
  std::string direction = attr_string(n, "direction", "forward");
  if (direction != "forward" && direction != "bidirectional") unsupported(n, "direction '" + direction + "'");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  if (attr_int(n, "input_forget", 0) != 0) unsupported(n, "input_forget=1");
  if (find_attribute(n, "clip")) unsupported(n, "clip");
  if (attr_int(n, "layout", 0) != 0) unsupported(n, "layout=1");
  if (find_attribute(n, "activation_alpha") || find_attribute(n, "activation_beta")) {
    unsupported(n, "activation_alpha / activation_beta (snare: the activations' defaults)");
  }
  if (present(n, 4)) unsupported(n, "sequence_lens");
  const int last_state_input = kind == LayerKind::kLSTM ? 7 : 5;  // initial_h (, initial_c, P)
  for (int i = 5; i <= last_state_input; ++i) {
    if (present(n, i) && constant(n, i).ne(0).any().item<bool>()) unsupported(n, "non-zero initial state or peepholes");
  }
  Layer l;
  l.kind = kind;
  l.inputs = {x.layer};
  l.activation = ir::Activation::kTanh;
  l.bidirectional = dirs == 2;
  // Activations per direction: LSTM (f, g, h) must be the defaults; GRU (f, g) = (gates, cell); RNN (g) = (cell).
  std::vector<std::string> defaults = kind == LayerKind::kLSTM ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                      : kind == LayerKind::kGRU ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                : std::vector<std::string>{"Tanh"};
  std::vector<std::string> acts = attr_strings(n, "activations").value_or(std::vector<std::string>{});
  if (acts.empty()) {
    for (int64_t d = 0; d < dirs; ++d) acts.insert(acts.end(), defaults.begin(), defaults.end());
  }
  if (acts.size() != defaults.size() * static_cast<size_t>(dirs)) {
    model_error(n, fmt::format("{} activations for {} direction(s), expected {}", acts.size(), dirs, defaults.size() * dirs));
  }
  if (dirs == 2 && !std::equal(acts.begin(), acts.begin() + static_cast<std::ptrdiff_t>(defaults.size()),
                               acts.begin() + static_cast<std::ptrdiff_t>(defaults.size()))) {
    unsupported(n, fmt::format("directions with different activations [{}]", fmt::join(acts, ", ")));
  }
  auto activation = [&](size_t i) {
    auto a = recurrent_activation_from_onnx(acts[i]);
    if (!a) unsupported(n, fmt::format("activation {} (snare: Tanh, Sigmoid, Relu, HardSigmoid, Softsign, Softplus)", acts[i]));
    return *a;
  };
  auto gate_activation = [&] {
    ir::Activation a = activation(0);
    if (a != ir::Activation::kSigmoid && a != ir::Activation::kHardSigmoid) {
      unsupported(n, fmt::format("gate activation {} (snare: Sigmoid, HardSigmoid)", acts[0]));
    }
    return a;
  };
  if (kind == LayerKind::kLSTM) {
    if (std::vector<std::string>(acts.begin() + 1, acts.begin() + 3) != std::vector<std::string>{"Tanh", "Tanh"}) {
      unsupported(n, fmt::format("activations [{}] (snare: Sigmoid or HardSigmoid, Tanh, Tanh)", fmt::join(acts, ", ")));
    }
    l.recurrent_activation = gate_activation();
    // snare runs LSTMs with tanh whatever the activation says; the hint keeps a linear tag round-tripping.
    if (parse_hints(n.doc_string()).values["activation"] == "linear") l.activation = ir::Activation::kLinear;
  } else if (kind == LayerKind::kGRU) {
    l.recurrent_activation = gate_activation();
    l.activation = activation(1);
    l.reset_after = attr_int(n, "linear_before_reset", 0) != 0;
  } else {
    l.activation = activation(0);
  }
  at::Tensor w = constant(n, 1).to(at::kFloat), r = constant(n, 2).to(at::kFloat);
  if (w.dim() != 3 || w.size(0) != dirs || r.dim() != 3 || r.size(0) != dirs || w.size(1) % gates != 0) {
    model_error(n, fmt::format("W and R must be [{},{}H,C] and [{},{}H,H]", dirs, gates, dirs, gates));
  }
  l.units = attr_int(n, "hidden_size", r.size(2));
  l.use_bias = present(n, 3);
  at::Tensor b;
  if (l.use_bias) {
    b = constant(n, 3).to(at::kFloat).reshape({dirs, -1});
    if (b.size(1) != 2 * gates * l.units) {
      model_error(n, fmt::format("B has {} values per direction, expected {}", b.size(1), 2 * gates * l.units));
    }
  }
  for (int64_t d = 0; d < dirs; ++d) {
    std::vector<std::string> names = ir::recurrent_weight_names(l, d == 1);
    l.weights[names[0]] = gates_from_onnx(w[d], kind);
    l.weights[names[1]] = gates_from_onnx(r[d], kind);
    if (l.use_bias) {
      l.weights[names[2]] = gates_from_onnx(b[d].narrow(0, 0, gates * l.units), kind);
      l.weights[names[3]] = gates_from_onnx(b[d].narrow(0, gates * l.units, gates * l.units), kind);
    }
  }
  auto used = [&](int i) { return n.output_size() > i && !n.output(i).empty() && uses_[n.output(i)] > 0; };
  if (used(2)) unsupported(n, "the cell state output Y_c is used");
  if (used(0) && used(1)) unsupported(n, "both Y and Y_h are used");
  l.return_sequences = used(0);
  std::string name = add_layer(l, n);
  if (l.return_sequences) {
    define(n.output(0), Value{name, Layout::kLstmY}, true);
  } else if (n.output_size() > 1 && !n.output(1).empty()) {
    define(n.output(1), Value{name, Layout::kLstmYh}, true);
  }
}

void Reader::map_direction_reduce(const pb::NodeProto& n) {
  // Only as a Bidirectional merge: ReduceSum / ReduceMean / ReduceProd of a bidirectional output over its direction
  // axis (Y: 1, Y_h: 0), keepdims=0.
  const Value& v = value(n, 0);
  const std::string& op = n.op_type();
  bool recurrent_out = v.layout == Layout::kLstmY || v.layout == Layout::kLstmYh;
  if (!recurrent_out || !graph_.layer(v.layer).bidirectional) {
    unsupported(n, fmt::format("{} of a {} tensor (snare reads it only as the merge of a bidirectional recurrent layer)", op,
                               layout_name(v.layout)));
  }
  std::vector<int64_t> axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
  if (op == "ReduceSum" && opset_ >= 13 && present(n, 1)) {
    const at::Tensor& a = constant(n, 1);
    axes.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
  }
  const int64_t rank = onnx_rank(v), dir_axis = v.layout == Layout::kLstmY ? 1 : 0;
  for (auto& a : axes) a = a < 0 ? a + rank : a;
  if (axes != std::vector<int64_t>{dir_axis} || attr_int(n, "keepdims", 1) != 0) {
    unsupported(n, fmt::format("{} over axes {} keepdims={} (snare: over the direction axis {} with keepdims=0)", op, ints(axes),
                               attr_int(n, "keepdims", 1), dir_axis));
  }
  if (!absorbable(n.input(0))) unsupported(n, "the bidirectional output is read elsewhere too");
  Layer& l = graph_.layer(v.layer);
  l.merge_mode = op == "ReduceSum" ? ir::MergeMode::kSum : op == "ReduceMean" ? ir::MergeMode::kAve : ir::MergeMode::kMul;
  graph_.infer_shapes();
  alias(n, v.layout == Layout::kLstmY ? Layout::kTime : Layout::kFirst);
}

void Reader::unfold_flattens() {
  for (const std::string& f : folded_flattens_) {
    if (!only_dense_readers(graph_, f)) continue;  // edited since snare wrote it: keep what the file computes
    Layer& flatten = graph_.layer(f);
    const Shape& chw = shape_of(flatten.inputs.at(0));
    flatten.channels_last = true;
    for (const auto& r : graph_.consumers(f)) {
      at::Tensor& w = graph_.layer(r).weights.at("weight");
      w = reorder_flatten_columns(w, chw, false);
    }
  }
}

ir::Graph Reader::read() {
  load();
  sort_nodes();
  check();
  find_composites();
  find_preprocess();
  find_tail();
  reject_unsupported();
  collect_constants_and_uses();
  const auto& g = model_.graph();
  graph_.name = g.name().empty() ? std::filesystem::path(path_).stem().string() : g.name();
  graph_.meta["format"] = "onnx";
  graph_.meta["onnx.opset"] = std::to_string(opset_);
  if (!model_.producer_name().empty()) graph_.meta["onnx.producer"] = model_.producer_name() + " " + model_.producer_version();
  make_input();
  for (int i = 0; i < g.node_size(); ++i) {
    const pb::NodeProto& n = g.node(i);
    if (inside_composites_.count(i) || folded_nodes_.count(i)) continue;
    if (auto c = composites_.find(i); c != composites_.end()) {
      place_activation(n, c->second.x, c->second.activation, 0.0);
      continue;
    }
    if (fold_constant(n)) continue;
    (this->*(find_op(n.op_type())->map))(n);
  }
  make_outputs();
  unfold_flattens();
  // After the layers: snare.factorized_from names them. Before fold_preprocess: it reads the recorded scaling.
  for (const auto& p : model_.metadata_props()) {
    // "format" and "onnx.*" are what this reader learned about the file; a file's own entries cannot set them.
    if (p.key() == "format" || p.key().rfind("onnx.", 0) == 0) continue;
    if (!read_fact_entry(graph_, p.key(), p.value(), path_, "metadata_props")) graph_.meta[p.key()] = p.value();
  }
  fold_preprocess();
  try {
    ir::verify(graph_);
  } catch (const Error& e) {
    throw ModelError(fmt::format("{}: {}", path_, e.what()));
  }
  return graph_;
}

}  // namespace

ir::Graph read_onnx(const std::string& path) {
  return with_file_named(path, [&] { return Reader(path).read(); });
}

ir::Graph read_onnx_bytes(const std::string& bytes, const std::string& label) {
  return with_file_named(label, [&] { return Reader(label, bytes).read(); });
}

}  // namespace snare::io::onnx
