// The ONNX reader (reader_impl.h): loading and checking, the op table, value and layer helpers, read(), entry points.
#include "io/onnx/reader_impl.h"

#include <ATen/ATen.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "io/facts.h"
#include "io/file_named.h"
#include "io/onnx/onnx.h"
#include "ir/limits.h"

namespace snare::io::onnx {

namespace reading {

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

std::map<std::string, const pb::TensorProto*> constant_protos(const pb::GraphProto& g) {
  std::map<std::string, const pb::TensorProto*> consts;
  for (const auto& t : g.initializer()) consts[t.name()] = &t;
  for (const auto& n : g.node()) {
    const auto* a = find_attribute(n, "value");
    if (n.op_type() == "Constant" && a && a->has_t() && n.output_size() == 1) consts[n.output(0)] = &a->t();
  }
  return consts;
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

// ---------------------------------------------------------------------------------------------
// Reading

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

}  // namespace reading

ir::Graph read_onnx(const std::string& path) {
  return with_file_named(path, [&] { return reading::Reader(path).read(); });
}

ir::Graph read_onnx_bytes(const std::string& bytes, const std::string& label) {
  return with_file_named(label, [&] { return reading::Reader(label, bytes).read(); });
}

}  // namespace snare::io::onnx
