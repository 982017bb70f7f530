// The ONNX reader's graph ends: the input and its folded preprocessing, the outputs and their dropped ArgMax/Cast tail.
#include "io/onnx/reader_impl.h"

#include <ATen/ATen.h>

#include <cmath>

#include "io/facts.h"

namespace snare::io::onnx::reading {

namespace {

bool default_domain(const pb::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

}  // namespace

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

}  // namespace snare::io::onnx::reading
