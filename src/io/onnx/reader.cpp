// ONNX -> ir. The reader walks the (topologically sorted) nodes once and keeps, for every ONNX tensor,
// either a constant (initializers, Constant nodes, folded constant expressions) or a Value: the ir
// layer whose output it holds and the layout in which the ONNX tensor holds it. Transposes between
// NCHW and NHWC only change the layout, so the ir stays channels-first whatever the exporter did.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "common/error.h"
#include "io/onnx/onnx.h"
#include "io/onnx/proto.h"
#include "io/onnx/recurrent.h"

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
  }
  return "?";
}

struct Value {
  std::string layer;
  Layout layout = Layout::kFirst;
};

int64_t product(const Shape& s) {
  int64_t p = 1;
  for (int64_t d : s) p *= d;
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

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}
  ir::Graph read();

  // One mapping function per supported op (see kOps).
  void map_add(const pb::NodeProto& n);
  void map_activation(const pb::NodeProto& n);
  void map_batchnorm(const pb::NodeProto& n);
  void map_clip(const pb::NodeProto& n);
  void map_concat(const pb::NodeProto& n);
  void map_constant(const pb::NodeProto& n);
  void map_conv(const pb::NodeProto& n);
  void map_dense(const pb::NodeProto& n);
  void map_dropout(const pb::NodeProto& n);
  void map_flatten(const pb::NodeProto& n);
  void map_global_pool(const pb::NodeProto& n);
  void map_identity(const pb::NodeProto& n);
  void map_recurrent(const pb::NodeProto& n);
  void map_reduce(const pb::NodeProto& n);
  void map_pad(const pb::NodeProto& n);
  void map_pool(const pb::NodeProto& n);
  void map_reshape(const pb::NodeProto& n);
  void map_squeeze(const pb::NodeProto& n);
  void map_sum(const pb::NodeProto& n);
  void map_transpose(const pb::NodeProto& n);

 private:
  /// An activation that ONNX spells as several nodes (x * Sigmoid(x), the erf form of GELU, ...): found
  /// before mapping, mapped at its last node; the other nodes are skipped.
  struct Composite {
    ir::Activation activation = ir::Activation::kLinear;
    std::string x;            ///< the data tensor the activation applies to
    int reads_of_x = 0;       ///< how many node inputs of the pattern read x (one use of x in all)
  };

  void load();
  void sort_nodes();
  void find_composites();
  void check();
  void reject_unsupported();
  void collect_constants_and_uses();
  void make_input();
  void make_outputs();
  /// Restores the channels-last Flattens the writer folded into Dense weights (see writer.cpp).
  void unfold_flattens();
  bool fold_constant(const pb::NodeProto& n);

  std::string node_where(const pb::NodeProto& n) const {
    return fmt::format("{}: node '{}' ({})", path_, n.name().empty() ? n.output(0) : n.name(), n.op_type());
  }
  [[noreturn]] void model_error(const pb::NodeProto& n, const std::string& what) const {
    throw ModelError(node_where(n) + ": " + what);
  }
  [[noreturn]] void unsupported(const pb::NodeProto& n, const std::string& what) const {
    throw UnsupportedError(node_where(n) + ": " + what);
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
  pb::ModelProto model_;
  int64_t opset_ = 0;
  int64_t fixed_batch_ = -1;
  std::map<std::string, at::Tensor> constants_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> uses_;          ///< tensor -> node inputs + graph outputs reading it
  std::map<std::string, std::string> tip_;   ///< layer -> its latest ONNX tensor
  std::set<std::string> names_;
  std::vector<std::string> folded_flattens_;  ///< snare-written Flattens whose order is in their Dense weights
  std::map<int, Composite> composites_;       ///< node index of a composite's last node -> the composite
  std::set<int> inside_composites_;           ///< the other nodes of composites (not mapped)
  ir::Graph graph_;
};

using MapFn = void (Reader::*)(const pb::NodeProto&);
struct OpEntry {
  const char* op;
  MapFn map;
};

/// Every ONNX op the reader maps, sorted by name (looked up by binary search).
constexpr OpEntry kOps[] = {
    {"Add", &Reader::map_add},
    {"AveragePool", &Reader::map_pool},
    {"BatchNormalization", &Reader::map_batchnorm},
    {"Clip", &Reader::map_clip},
    {"Concat", &Reader::map_concat},
    {"Constant", &Reader::map_constant},
    {"Conv", &Reader::map_conv},
    {"Dropout", &Reader::map_dropout},
    {"Elu", &Reader::map_activation},
    {"Exp", &Reader::map_activation},
    {"Flatten", &Reader::map_flatten},
    {"GRU", &Reader::map_recurrent},
    {"Gemm", &Reader::map_dense},
    {"GlobalAveragePool", &Reader::map_global_pool},
    {"GlobalMaxPool", &Reader::map_global_pool},
    {"HardSigmoid", &Reader::map_activation},
    {"HardSwish", &Reader::map_activation},
    {"Identity", &Reader::map_identity},
    {"LSTM", &Reader::map_recurrent},
    {"LeakyRelu", &Reader::map_activation},
    {"MatMul", &Reader::map_dense},
    {"MaxPool", &Reader::map_pool},
    {"Pad", &Reader::map_pad},
    {"RNN", &Reader::map_recurrent},
    {"ReduceMean", &Reader::map_reduce},
    {"ReduceProd", &Reader::map_reduce},
    {"ReduceSum", &Reader::map_reduce},
    {"Relu", &Reader::map_activation},
    {"Reshape", &Reader::map_reshape},
    {"Selu", &Reader::map_activation},
    {"Sigmoid", &Reader::map_activation},
    {"Softmax", &Reader::map_activation},
    {"Softplus", &Reader::map_activation},
    {"Softsign", &Reader::map_activation},
    {"Squeeze", &Reader::map_squeeze},
    {"Sum", &Reader::map_sum},
    {"Tanh", &Reader::map_activation},
    {"Transpose", &Reader::map_transpose},
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
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw ModelError(fmt::format("{}: cannot open ONNX file", path_));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
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
  pb::GraphProto* g = model_.mutable_graph();
  std::set<std::string> ready;
  for (const auto& i : g->input()) ready.insert(i.name());
  for (const auto& t : g->initializer()) ready.insert(t.name());
  ready.insert("");
  std::vector<pb::NodeProto> pending(g->node().begin(), g->node().end());
  std::vector<pb::NodeProto> sorted;
  while (!pending.empty()) {
    auto it = std::find_if(pending.begin(), pending.end(), [&](const pb::NodeProto& n) {
      return std::all_of(n.input().begin(), n.input().end(), [&](const std::string& i) { return ready.count(i) > 0; });
    });
    if (it == pending.end()) {
      std::vector<std::string> missing;
      for (const auto& i : pending.front().input()) {
        if (!ready.count(i)) missing.push_back("'" + i + "'");
      }
      throw ModelError(fmt::format("{}: node '{}' ({}) reads {} which no node, input or initializer produces (or "
                                   "the graph has a cycle)",
                                   path_, pending.front().name(), pending.front().op_type(), fmt::join(missing, ", ")));
    }
    for (const auto& o : it->output()) ready.insert(o);
    sorted.push_back(std::move(*it));
    pending.erase(it);
  }
  g->clear_node();
  for (auto& n : sorted) *g->add_node() = std::move(n);
}

void Reader::check() {
  try {
    ::ONNX_NAMESPACE::checker::check_model(model_);
  } catch (const std::exception& e) {
    throw ModelError(fmt::format("{}: ONNX checker: {}", path_, e.what()));
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
    if (composites_.count(i) || inside_composites_.count(i)) continue;
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
void Reader::find_composites() {
  const auto& g = model_.graph();
  std::map<std::string, int> producer;
  std::map<std::string, int> readers;
  std::map<std::string, const pb::TensorProto*> consts;
  for (const auto& t : g.initializer()) consts[t.name()] = &t;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    for (const auto& o : n.output()) producer[o] = i;
    for (const auto& in : n.input()) ++readers[in];
    const auto* a = find_attribute(n, "value");
    if (n.op_type() == "Constant" && a && a->has_t() && n.output_size() == 1) consts[n.output(0)] = &a->t();
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

void Reader::collect_constants_and_uses() {
  const auto& g = model_.graph();
  for (const auto& t : g.initializer()) constants_[t.name()] = to_tensor(t, t.name());
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) {
      if (!i.empty()) ++uses_[i];
    }
  }
  for (const auto& o : g.output()) ++uses_[o.name()];
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
  if (elem != pb::TensorProto::FLOAT) {
    throw UnsupportedError(fmt::format("{}: input '{}' has element type {}; snare supports float", path_, input->name(),
                                       pb::TensorProto::DataType_Name(static_cast<pb::TensorProto::DataType>(elem))));
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
  }

  auto rank = static_cast<int64_t>(shape.size()) + 1;
  bool nhwc = rank >= 3;
  int readers = 0;
  for (const auto& n : g.node()) {
    for (int k = 0; k < n.input_size(); ++k) {
      if (n.input(k) != input->name()) continue;
      ++readers;
      if (k == 0 && n.op_type() == "Transpose" && attr_ints(n, "perm") == perm_to_first(rank) &&
          !parse_hints(n.doc_string()).has("permute")) {  // snare's own Permute layer is not a layout change
        continue;
      }
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
  define(input->name(), Value{in.name, nhwc ? Layout::kLast : Layout::kFirst}, true);
}

void Reader::make_outputs() {
  std::vector<std::string> outs;
  for (const auto& o : model_.graph().output()) {
    auto it = values_.find(o.name());
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
    if (v.layout == Layout::kLast) graph_.meta["onnx.output_layout"] = "NHWC in the file, NCHW in snare";
    outs.push_back(v.layer);
  }
  if (outs.empty()) throw ModelError(fmt::format("{}: graph has no outputs", path_));
  if (!(outs.size() == 1 && outs[0] == graph_.layers.back().name)) graph_.outputs = outs;
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
    graph_.infer_shapes();
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
  } else {
    unsupported(n, "all inputs are constants; snare folds only Identity, Transpose, Reshape, Flatten, Add and Sum of constants");
  }
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
  l.strides = attr_ints(n, "strides").value_or(Shape(dims, 1));
  l.dilation = attr_ints(n, "dilations").value_or(Shape(dims, 1));
  std::string input = x.layer;
  l.padding = resolve_padding(n, l, input, /*zero_pad_ok=*/true, /*same_ok=*/true);
  l.inputs = {input};
  l.weights["weight"] = w.to(at::kFloat).contiguous();
  l.use_bias = present(n, 2);
  if (l.use_bias) l.weights["bias"] = constant(n, 2).to(at::kFloat).reshape({-1}).contiguous();
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
  const Value& v = plain_value(n, vi);
  const at::Tensor& c = constant(n, 1 - vi);
  Layer& l = graph_.layer(v.layer);
  bool owner = l.kind == LayerKind::kDense || l.kind == LayerKind::kConv1D || l.kind == LayerKind::kConv2D ||
               l.kind == LayerKind::kDepthwiseConv2D;
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
  int64_t channel_axis = v.layout == Layout::kLast ? rank - 1 : 1;
  if (c.dim() > rank) cannot("the constant has more axes than the data");
  std::vector<int64_t> cs(static_cast<size_t>(rank - c.dim()), 1);
  cs.insert(cs.end(), c.sizes().begin(), c.sizes().end());
  for (int64_t a = 0; a < rank; ++a) {
    if (cs[a] == 1) continue;
    if (a != channel_axis) cannot("it varies along a non-channel axis");
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
  const Value& v = plain_value(n, 0);
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
  if (v.layout != Layout::kFirst && v.layout != Layout::kLast) {
    unsupported(n, fmt::format("input '{}' is in {} layout here", x, layout_name(v.layout)));
  }
  Layer& prev = graph_.layer(v.layer);
  bool fusable = prev.kind == LayerKind::kDense || prev.kind == LayerKind::kConv1D || prev.kind == LayerKind::kConv2D ||
                 prev.kind == LayerKind::kDepthwiseConv2D;
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
  const Value& x = plain_value(n, 0);
  if (x.layout != Layout::kFirst) unsupported(n, "input is channels-last (NHWC) here; ONNX pools read NCHW");
  if (n.output_size() > 1 && !n.output(1).empty() && uses_[n.output(1)] > 0) unsupported(n, "the Indices output is used");
  bool max = n.op_type() == "MaxPool";
  Layer l;
  l.kernel = attr_ints(n, "kernel_shape").value_or(Shape{});
  size_t dims = l.kernel.size();
  if (dims != 1 && dims != 2) unsupported(n, fmt::format("{}-D pooling", dims));
  l.kind = dims == 1 ? (max ? LayerKind::kMaxPool1D : LayerKind::kAvgPool1D) : (max ? LayerKind::kMaxPool2D : LayerKind::kAvgPool2D);
  l.strides = attr_ints(n, "strides").value_or(Shape(dims, 1));
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
  define(n.output(0), Value{add_layer(l, n), Layout::kKeepDims}, true);
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
  bool batch_ok = raw[0] == 0 || (fixed_batch_ > 0 && raw[0] == fixed_batch_) ||
                  (raw[0] == -1 && std::count(raw.begin() + 1, raw.end(), -1) == 0);
  if (!batch_ok) unsupported(n, fmt::format("shape {} does not keep the batch axis first", ints(raw)));
  Shape target(raw.begin() + 1, raw.end());
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

void Reader::map_squeeze(const pb::NodeProto& n) {
  const Value& v = value(n, 0);
  std::vector<int64_t> axes;
  if (opset_ < 13) {
    axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
  } else if (present(n, 1)) {
    const at::Tensor& a = constant(n, 1);
    axes.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
  }
  int64_t rank = onnx_rank(v);
  for (auto& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  const bool one_direction = (v.layout == Layout::kLstmY || v.layout == Layout::kLstmYh) && !graph_.layer(v.layer).bidirectional;
  if (one_direction && v.layout == Layout::kLstmYh && axes == std::vector<int64_t>{0}) return alias(n, Layout::kFirst);
  if (one_direction && v.layout == Layout::kLstmY && axes == std::vector<int64_t>{1}) return alias(n, Layout::kTime);
  if (v.layout == Layout::kKeepDims) {
    std::vector<int64_t> spatial;
    for (int64_t i = 2; i < rank; ++i) spatial.push_back(i);
    if (axes == spatial) return alias(n, Layout::kFirst);
  }
  unsupported(n, fmt::format("squeeze of axes {} of a {} tensor (snare: only one-direction recurrent outputs and kept pool axes)", ints(axes),
                             layout_name(v.layout)));
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
  const Value& v = plain_value(n, 0);
  if (v.layout == Layout::kLast) unsupported(n, "input is channels-last (NHWC); ONNX normalises axis 1");
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
  if (kind == LayerKind::kLSTM) {
    if (std::vector<std::string>(acts.begin(), acts.begin() + 3) != defaults) {
      unsupported(n, fmt::format("activations [{}] (snare: Sigmoid, Tanh, Tanh)", fmt::join(acts, ", ")));
    }
    // snare runs LSTMs with tanh whatever the activation says; the hint keeps a linear tag round-tripping.
    if (parse_hints(n.doc_string()).values["activation"] == "linear") l.activation = ir::Activation::kLinear;
  } else if (kind == LayerKind::kGRU) {
    l.recurrent_activation = activation(0);
    if (l.recurrent_activation != ir::Activation::kSigmoid && l.recurrent_activation != ir::Activation::kHardSigmoid) {
      unsupported(n, fmt::format("gate activation {} (snare: Sigmoid, HardSigmoid)", acts[0]));
    }
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

void Reader::map_reduce(const pb::NodeProto& n) {
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
  reject_unsupported();
  collect_constants_and_uses();
  const auto& g = model_.graph();
  graph_.name = g.name().empty() ? std::filesystem::path(path_).stem().string() : g.name();
  graph_.meta["format"] = "onnx";
  graph_.meta["onnx.opset"] = std::to_string(opset_);
  if (!model_.producer_name().empty()) graph_.meta["onnx.producer"] = model_.producer_name() + " " + model_.producer_version();
  for (const auto& p : model_.metadata_props()) graph_.meta[p.key()] = p.value();
  make_input();
  for (int i = 0; i < g.node_size(); ++i) {
    const pb::NodeProto& n = g.node(i);
    if (inside_composites_.count(i)) continue;
    if (auto c = composites_.find(i); c != composites_.end()) {
      place_activation(n, c->second.x, c->second.activation, 0.0);
      continue;
    }
    if (fold_constant(n)) continue;
    (this->*(find_op(n.op_type())->map))(n);
  }
  make_outputs();
  unfold_flattens();
  try {
    ir::verify(graph_);
  } catch (const Error& e) {
    throw ModelError(fmt::format("{}: {}", path_, e.what()));
  }
  return graph_;
}

}  // namespace

ir::Graph read_onnx(const std::string& path) { return Reader(path).read(); }

}  // namespace snare::io::onnx
