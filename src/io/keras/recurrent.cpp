#include "io/keras/recurrent.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "io/keras/layout.h"

namespace snare::io::keras {

using ir::LayerKind;

namespace {

std::string dims(const at::Tensor& t) {
  std::vector<int64_t> s(t.sizes().begin(), t.sizes().end());
  return fmt::format("[{}]", fmt::join(s, ","));
}

/// Keras' shape of a direction's bias: [2,3U] for a reset_after GRU (input and recurrent bias), else [G*U].
std::vector<int64_t> bias_shape(const ir::Layer& l) {
  const int64_t rows = ir::gate_count(l.kind) * l.units;
  if (l.kind == LayerKind::kGRU && l.reset_after) return {2, rows};
  return {rows};
}

/// The config fields a backward_layer must share with the forward layer for the pair to be one IR layer.
constexpr const char* kMirroredFields[] = {"units", "activation", "recurrent_activation", "use_bias", "reset_after",
                                           "return_sequences"};

}  // namespace

const char* recurrent_class(LayerKind kind) {
  switch (kind) {
    case LayerKind::kLSTM: return "LSTM";
    case LayerKind::kGRU: return "GRU";
    case LayerKind::kSimpleRNN: return "SimpleRNN";
    default: throw InternalError("io/keras: recurrent_class of a non-recurrent kind");
  }
}

const char* recurrent_cell(LayerKind kind) {
  switch (kind) {
    case LayerKind::kLSTM: return "lstm_cell";
    case LayerKind::kGRU: return "gru_cell";
    case LayerKind::kSimpleRNN: return "simple_rnn_cell";
    default: throw InternalError("io/keras: recurrent_cell of a non-recurrent kind");
  }
}

std::vector<std::string> recurrent_keras_names(const ir::Layer& l) {
  std::vector<std::string> one{"kernel", "recurrent_kernel"};
  if (l.use_bias) one.push_back("bias");
  if (!l.bidirectional) return one;
  std::vector<std::string> both;
  for (const char* direction : {"forward_layer/", "backward_layer/"}) {
    for (const std::string& n : one) both.push_back(direction + n);
  }
  return both;
}

std::map<std::string, at::Tensor> recurrent_from_keras(const ir::Layer& l, const std::vector<at::Tensor>& stored,
                                                       int64_t in, const std::string& where) {
  std::vector<std::string> names = recurrent_keras_names(l);
  if (stored.size() != names.size()) {
    throw InternalError(fmt::format("{}: {} weights for {} names", where, stored.size(), names.size()));
  }
  const int64_t rows = ir::gate_count(l.kind) * l.units;
  auto check = [&](size_t i, const std::vector<int64_t>& shape) {
    if (!stored[i].sizes().equals(shape)) {
      throw ModelError(fmt::format("{}: {} has shape {} but expected [{}] (config says units={}{}; the layer's input has "
                                   "{} features per step)",
                                   where, names[i], dims(stored[i]), fmt::join(shape, ","), l.units,
                                   l.kind == LayerKind::kGRU ? fmt::format(", reset_after={}", l.reset_after) : "", in));
    }
  };
  std::map<std::string, at::Tensor> w;
  const size_t per_direction = l.use_bias ? 3 : 2;
  for (bool reverse : {false, true}) {
    if (reverse && !l.bidirectional) break;
    const size_t base = reverse ? per_direction : 0;
    check(base, {in, rows});
    check(base + 1, {l.units, rows});
    layout::KerasLstm keras{stored[base], stored[base + 1], at::Tensor()};
    if (l.use_bias) {
      check(base + 2, bias_shape(l));
      keras.bias = stored[base + 2];
    }
    layout::TorchLstm t = l.kind == LayerKind::kGRU ? layout::gru_from_keras(keras, l.reset_after)
                                                    : layout::lstm_from_keras(keras);  // SimpleRNN: LSTM with one gate
    std::vector<std::string> ir_names = ir::recurrent_weight_names(l, reverse);
    w[ir_names[0]] = t.weight_ih;
    w[ir_names[1]] = t.weight_hh;
    if (l.use_bias) {
      w[ir_names[2]] = t.bias_ih;
      w[ir_names[3]] = t.bias_hh;
    }
  }
  return w;
}

std::vector<at::Tensor> recurrent_to_keras(const ir::Layer& l, const std::function<at::Tensor(const std::string&)>& weight) {
  std::vector<at::Tensor> out;
  for (bool reverse : {false, true}) {
    if (reverse && !l.bidirectional) break;
    std::vector<std::string> names = ir::recurrent_weight_names(l, reverse);
    layout::TorchLstm t{weight(names[0]), weight(names[1]), at::Tensor(), at::Tensor()};
    if (l.use_bias) {
      t.bias_ih = weight(names[2]);
      t.bias_hh = weight(names[3]);
    }
    layout::KerasLstm k = l.kind == LayerKind::kGRU ? layout::gru_to_keras(t, l.reset_after) : layout::lstm_to_keras(t);
    out.push_back(k.kernel);
    out.push_back(k.recurrent_kernel);
    if (l.use_bias) out.push_back(k.bias);
  }
  return out;
}

LayerEntry wrapped_layer(const LayerEntry& e) {
  const Json& inner = e.entry.at("config").at("layer");
  LayerEntry w = e;  // the wrapper's name, inputs, calls and weight group
  w.class_name = inner.at("class_name").get<std::string>();
  w.entry = Json{{"class_name", w.class_name}, {"config", inner.value("config", Json::object())}};
  return w;
}

std::string bidirectional_reason(const LayerEntry& e) {
  const Json& c = e.entry.contains("config") ? e.entry["config"] : Json();
  if (!c.is_object() || !c.contains("layer") || !c["layer"].is_object() || !c["layer"].contains("class_name")) {
    return "has no wrapped layer ('layer' in its config)";
  }
  LayerEntry forward = wrapped_layer(e);
  const KerasClass* k = find_class(forward.class_name);
  if (!k || !ir::is_recurrent(k->kind)) {
    return fmt::format("wraps a {} layer (snare supports Bidirectional around LSTM, GRU and SimpleRNN)", forward.class_name);
  }
  if (c.contains("merge_mode")) {
    if (c["merge_mode"].is_null()) return "merge_mode None (two separate outputs) is not supported";
    if (!c["merge_mode"].is_string()) return fmt::format("merge_mode {} is not a string", c["merge_mode"].dump());
    try {
      ir::merge_mode_from_name(c["merge_mode"].get<std::string>());
    } catch (const UnsupportedError& err) {
      return err.what();
    }
  }
  if (std::string why = unsupported_reason(forward); !why.empty()) return fmt::format("wrapped {}: {}", forward.class_name, why);
  if (c.contains("backward_layer") && !c["backward_layer"].is_null()) {
    const Json& b = c["backward_layer"];
    if (!b.is_object() || b.value("class_name", "") != forward.class_name) {
      return fmt::format("backward_layer is not a {} like the forward layer", forward.class_name);
    }
    const Json& bc = b.value("config", Json::object());
    const Json& fc = forward.entry["config"];
    if (!bc.value("go_backwards", false)) return "backward_layer does not have go_backwards=true";
    for (const char* field : kMirroredFields) {
      if (bc.value(field, Json()) != fc.value(field, Json())) {
        return fmt::format("backward_layer differs from the forward layer in {} ({} vs {}); snare needs the same layer "
                           "run backwards",
                           field, bc.value(field, Json()).dump(), fc.value(field, Json()).dump());
      }
    }
  }
  return "";
}

ir::Layer bidirectional_to_ir(const LayerEntry& e, const std::vector<ir::Shape>& ins, const std::string& file) {
  ir::Layer l = to_ir_layer(wrapped_layer(e), ins, file);
  const Json& c = e.entry.at("config");
  l.bidirectional = true;
  l.merge_mode = c.contains("merge_mode") ? ir::merge_mode_from_name(c["merge_mode"].get<std::string>())
                                          : ir::MergeMode::kConcat;
  return l;
}

}  // namespace snare::io::keras
