// The ONNX reader's LSTM, GRU and RNN, and the Reduce* over the direction axis that is a bidirectional merge mode.
#include "io/onnx/reader_impl.h"

#include <ATen/ATen.h>

#include <cstddef>

#include "io/onnx/recurrent.h"

namespace snare::io::onnx::reading {

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

}  // namespace snare::io::onnx::reading
