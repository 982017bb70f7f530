// The ONNX reader's ops that become ir layers: convs, Dense, merges, activations, pools, Pad, Slice, Resize, BN, Dropout.
#include "io/onnx/reader_impl.h"

#include <ATen/ATen.h>

#include <cmath>

namespace snare::io::onnx::reading {

namespace {

/// TensorFlow "same" padding for one axis: the odd pixel goes at the end.
std::pair<int64_t, int64_t> same_pads(int64_t in, int64_t k, int64_t s, int64_t d) {
  int64_t out = (in + s - 1) / s;
  int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
  return {total / 2, total - total / 2};
}

}  // namespace

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

}  // namespace snare::io::onnx::reading
