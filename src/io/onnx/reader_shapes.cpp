// The ONNX reader's constants and shape/layout ops: folding, Flatten, Reshape, Transpose, (Un)Squeeze, Reduce*, Concat.
#include "io/onnx/reader_impl.h"

#include <ATen/ATen.h>

namespace snare::io::onnx::reading {

namespace {

/// Stands for the batch size in shape tensors computed from Shape (PyTorch's x.view(x.size(0), -1)): a
/// Reshape reads it as "keep the batch axis".
constexpr int64_t kBatchDim = std::numeric_limits<int64_t>::min() / 2;

}  // namespace

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

}  // namespace snare::io::onnx::reading
