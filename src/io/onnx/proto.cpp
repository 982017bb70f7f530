#include "io/onnx/proto.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstring>
#include <sstream>

#include "common/error.h"

namespace snare::io::onnx::detail {

namespace {

std::vector<int64_t> dims_of(const pb::TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

int64_t numel_of(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

/// A tensor of `type` from raw little-endian bytes, or from the typed repeated field.
template <typename Repeated>
at::Tensor from_field(const pb::TensorProto& t, at::ScalarType type, size_t element_size, const Repeated& field,
                      const std::string& where) {
  std::vector<int64_t> dims = dims_of(t);
  int64_t n = numel_of(dims);
  at::Tensor out = at::empty(dims, at::TensorOptions(type));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != static_cast<size_t>(n) * element_size) {
      throw ModelError(fmt::format("tensor '{}': raw data has {} bytes but shape [{}] needs {}", where,
                                   t.raw_data().size(), fmt::join(dims, ","), n * static_cast<int64_t>(element_size)));
    }
    if (n > 0) std::memcpy(out.data_ptr(), t.raw_data().data(), t.raw_data().size());
    return out;
  }
  if (field.size() != n) {
    throw ModelError(fmt::format("tensor '{}': has {} values but shape [{}] needs {}", where, field.size(),
                                 fmt::join(dims, ","), n));
  }
  return out;
}

}  // namespace

at::Tensor to_tensor(const pb::TensorProto& t, const std::string& where) {
  if (t.data_location() == pb::TensorProto::EXTERNAL) {
    throw UnsupportedError(fmt::format("tensor '{}': external data files are not supported", where));
  }
  std::vector<int64_t> dims = dims_of(t);
  switch (t.data_type()) {
    case pb::TensorProto::FLOAT: {
      at::Tensor out = from_field(t, at::kFloat, 4, t.float_data(), where);
      if (!t.has_raw_data()) std::copy(t.float_data().begin(), t.float_data().end(), out.data_ptr<float>());
      return out;
    }
    case pb::TensorProto::DOUBLE: {
      at::Tensor out = from_field(t, at::kDouble, 8, t.double_data(), where);
      if (!t.has_raw_data()) std::copy(t.double_data().begin(), t.double_data().end(), out.data_ptr<double>());
      return out.to(at::kFloat);
    }
    case pb::TensorProto::FLOAT16: {
      at::Tensor out = from_field(t, at::kShort, 2, t.int32_data(), where);
      if (!t.has_raw_data()) {
        auto* p = out.data_ptr<int16_t>();
        for (int i = 0; i < t.int32_data().size(); ++i) p[i] = static_cast<int16_t>(t.int32_data(i));
      }
      return out.view(at::kHalf).to(at::kFloat);
    }
    case pb::TensorProto::INT64: {
      at::Tensor out = from_field(t, at::kLong, 8, t.int64_data(), where);
      if (!t.has_raw_data()) std::copy(t.int64_data().begin(), t.int64_data().end(), out.data_ptr<int64_t>());
      return out;
    }
    case pb::TensorProto::INT32: {
      at::Tensor out = from_field(t, at::kInt, 4, t.int32_data(), where);
      if (!t.has_raw_data()) std::copy(t.int32_data().begin(), t.int32_data().end(), out.data_ptr<int32_t>());
      return out.to(at::kLong);
    }
    default:
      throw UnsupportedError(fmt::format("tensor '{}': element type {} is not supported (float, double, float16, "
                                         "int32, int64 are)",
                                         where, pb::TensorProto::DataType_Name(
                                                    static_cast<pb::TensorProto::DataType>(t.data_type()))));
  }
}

void from_tensor(const at::Tensor& t, const std::string& name, pb::TensorProto* out) {
  at::Tensor c = t.to(at::kCPU).contiguous();
  out->set_name(name);
  for (int64_t d : c.sizes()) out->add_dims(d);
  if (c.scalar_type() == at::kLong) {
    out->set_data_type(pb::TensorProto::INT64);
  } else {
    c = c.to(at::kFloat).contiguous();
    out->set_data_type(pb::TensorProto::FLOAT);
  }
  out->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

const pb::AttributeProto* find_attribute(const pb::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t attr_int(const pb::NodeProto& node, const std::string& name, int64_t fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->i() : fallback;
}

float attr_float(const pb::NodeProto& node, const std::string& name, float fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->f() : fallback;
}

std::string attr_string(const pb::NodeProto& node, const std::string& name, const std::string& fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->s() : fallback;
}

std::optional<std::vector<int64_t>> attr_ints(const pb::NodeProto& node, const std::string& name) {
  const auto* a = find_attribute(node, name);
  if (!a) return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

std::optional<std::vector<std::string>> attr_strings(const pb::NodeProto& node, const std::string& name) {
  const auto* a = find_attribute(node, name);
  if (!a) return std::nullopt;
  return std::vector<std::string>(a->strings().begin(), a->strings().end());
}

void set_attr(pb::NodeProto* node, const std::string& name, int64_t value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::INT);
  a->set_i(value);
}

void set_attr(pb::NodeProto* node, const std::string& name, float value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::FLOAT);
  a->set_f(value);
}

void set_attr(pb::NodeProto* node, const std::string& name, const std::vector<int64_t>& value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::INTS);
  for (int64_t v : value) a->add_ints(v);
}

void set_attr(pb::NodeProto* node, const std::string& name, const std::string& value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::STRING);
  a->set_s(value);
}

void set_attr(pb::NodeProto* node, const std::string& name, const std::vector<std::string>& value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::STRINGS);
  for (const std::string& v : value) a->add_strings(v);
}

double Hints::real(const std::string& key, float stored) const {
  auto it = values.find(key);
  if (it == values.end()) return stored;
  try {
    double hinted = std::stod(it->second);
    if (static_cast<float>(hinted) == stored) return hinted;
  } catch (const std::exception&) {
    // A malformed hint is ignored: the stored value is authoritative.
  }
  return stored;
}

std::string Hints::text() const {
  if (values.empty()) return "";
  std::string out = "snare:";
  for (const auto& [k, v] : values) out += " " + (v.empty() ? k : k + "=" + v);
  return out;
}

Hints parse_hints(const std::string& doc_string) {
  Hints h;
  const std::string prefix = "snare:";
  if (doc_string.compare(0, prefix.size(), prefix) != 0) return h;
  std::istringstream in(doc_string.substr(prefix.size()));
  std::string token;
  while (in >> token) {
    auto eq = token.find('=');
    if (eq == std::string::npos) {
      h.values[token] = "";
    } else {
      h.values[token.substr(0, eq)] = token.substr(eq + 1);
    }
  }
  return h;
}

std::string format_real(double value) { return fmt::format("{:.17g}", value); }

int64_t FoldedOp::attr(const std::string& key, int64_t fallback) const {
  auto it = attrs.find(key);
  if (it == attrs.end()) return fallback;
  try {
    size_t used = 0;
    int64_t v = std::stoll(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw ModelError(fmt::format("{}: attribute {}={} is not an integer", op, key, it->second));
}

std::string format_folded_ops(const std::vector<FoldedOp>& ops) {
  std::vector<std::string> parts;
  for (const FoldedOp& o : ops) {
    std::vector<std::string> inside;
    for (const auto& [k, v] : o.attrs) inside.push_back(k + "=" + v);
    // float32 constants: 9 significant digits give the float back exactly.
    for (double v : o.values) inside.push_back(fmt::format("{:.9g}", v));
    parts.push_back(fmt::format("{}({})", o.op, fmt::join(inside, o.attrs.empty() ? "," : " ")));
  }
  return fmt::format("{}", fmt::join(parts, " -> "));
}

std::vector<FoldedOp> parse_folded_ops(const std::string& text) {
  std::vector<FoldedOp> ops;
  size_t pos = 0;
  auto bad = [&](const std::string& why) { throw ModelError(fmt::format("folded ops '{}': {}", text, why)); };
  while (pos < text.size()) {
    size_t open = text.find('(', pos), close = text.find(')', pos);
    if (open == std::string::npos || close == std::string::npos || close < open) bad("expected Op(...)");
    FoldedOp o;
    o.op = text.substr(pos, open - pos);
    std::string inside = text.substr(open + 1, close - open - 1);
    if (inside.find('=') != std::string::npos) {
      std::istringstream words(inside);
      for (std::string w; words >> w;) {
        size_t eq = w.find('=');
        if (eq == std::string::npos) bad("'" + w + "' is not key=value");
        o.attrs[w.substr(0, eq)] = w.substr(eq + 1);
      }
    } else if (!inside.empty()) {
      std::istringstream values(inside);
      for (std::string v; std::getline(values, v, ',');) {
        try {
          o.values.push_back(std::stod(v));
        } catch (const std::exception&) {
          bad("'" + v + "' is not a number");
        }
      }
    }
    ops.push_back(std::move(o));
    pos = close + 1;
    if (text.compare(pos, 4, " -> ") == 0) {
      pos += 4;
    } else if (pos < text.size()) {
      bad("expected ' -> ' between ops");
    }
  }
  return ops;
}

bool only_dense_readers(const ir::Graph& graph, const std::string& layer) {
  std::vector<std::string> readers = graph.consumers(layer);
  for (const auto& r : readers) {
    if (graph.layer(r).kind != ir::LayerKind::kDense) return false;
  }
  return !readers.empty();
}

at::Tensor reorder_flatten_columns(const at::Tensor& weight, const std::vector<int64_t>& chw, bool to_channels_first) {
  auto rank = static_cast<int64_t>(chw.size());
  std::vector<int64_t> last{weight.size(0)};  // (out, d1, ..., C)
  last.insert(last.end(), chw.begin() + 1, chw.end());
  last.push_back(chw.front());
  std::vector<int64_t> first{weight.size(0)};  // (out, C, d1, ...)
  first.insert(first.end(), chw.begin(), chw.end());
  std::vector<int64_t> last_to_first{0, rank};
  std::vector<int64_t> first_to_last{0};
  for (int64_t i = 1; i < rank; ++i) {
    last_to_first.push_back(i);
    first_to_last.push_back(i + 1);
  }
  first_to_last.push_back(1);
  at::Tensor w = to_channels_first ? weight.reshape(last).permute(last_to_first)
                                   : weight.reshape(first).permute(first_to_last);
  return w.reshape({weight.size(0), -1}).contiguous();
}

}  // namespace snare::io::onnx::detail
