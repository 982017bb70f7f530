// Private to io/onnx: conversions between ONNX protobuf messages and LibTorch tensors, attribute
// look-ups, and the snare hints writers leave in node doc strings.
#pragma once

#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::io::onnx::detail {

namespace pb = ::ONNX_NAMESPACE;

/// Tensor of an initializer or Constant: float types become float32, integer types int64.
/// Throws UnsupportedError for other element types and external data; `where` names the tensor.
at::Tensor to_tensor(const pb::TensorProto& t, const std::string& where);

/// Fills `out` (name already set by the caller or set from `name`) with a float32 or int64 tensor.
void from_tensor(const at::Tensor& t, const std::string& name, pb::TensorProto* out);

const pb::AttributeProto* find_attribute(const pb::NodeProto& node, const std::string& name);
int64_t attr_int(const pb::NodeProto& node, const std::string& name, int64_t fallback);
float attr_float(const pb::NodeProto& node, const std::string& name, float fallback);
std::string attr_string(const pb::NodeProto& node, const std::string& name, const std::string& fallback);
std::optional<std::vector<int64_t>> attr_ints(const pb::NodeProto& node, const std::string& name);
std::optional<std::vector<std::string>> attr_strings(const pb::NodeProto& node, const std::string& name);

void set_attr(pb::NodeProto* node, const std::string& name, int64_t value);
void set_attr(pb::NodeProto* node, const std::string& name, float value);
void set_attr(pb::NodeProto* node, const std::string& name, const std::vector<int64_t>& value);
void set_attr(pb::NodeProto* node, const std::string& name, const std::string& value);
void set_attr(pb::NodeProto* node, const std::string& name, const std::vector<std::string>& value);

/// snare writes facts ONNX cannot carry exactly (a double attribute that ONNX stores as float,
/// "this Relu is its own layer", "same" padding that happens to need no pixels) into a node's
/// doc_string as "snare: key=value key ...". They make read -> write -> read exact; the reader uses
/// a hint only where it agrees with what the node computes, so a stale hint can never change results.
struct Hints {
  std::map<std::string, std::string> values;
  bool has(const std::string& key) const { return values.count(key) > 0; }
  /// The hinted double when it rounds to `stored` in float32, else `stored`.
  double real(const std::string& key, float stored) const;
  std::string text() const;  ///< "snare: k=v ..." or "" when empty
};
Hints parse_hints(const std::string& doc_string);

/// True when `layer` has readers and every one is a Dense: the condition under which the writer folds a
/// channels-last Flatten's order into the Dense weights and the reader undoes it.
bool only_dense_readers(const ir::Graph& graph, const std::string& layer);

/// Dense weight [out, in] reading a flattened channels-first (C, d1, ...) tensor: reorders its input
/// columns between channels-last flatten order and channels-first order (`to_channels_first`) or back.
/// Lets the writer drop the Transpose before a Flatten and the reader restore the original layer.
at::Tensor reorder_flatten_columns(const at::Tensor& weight, const std::vector<int64_t>& chw, bool to_channels_first);
std::string format_real(double value);

/// One node of the input preprocessing or output tail the reader folds away and the writer writes back
/// (`graph.meta["onnx.preprocess"]`, `graph.meta["onnx.dropped_tail"]`). Text form, steps joined by " -> ":
/// `Cast(from=UINT8 to=FLOAT)`, `Div(255)`, `Sub(123.675,116.28,103.53)` (one value, or one per channel),
/// `ArgMax(axis=1 keepdims=0 select_last_index=0)`.
struct FoldedOp {
  std::string op;
  std::map<std::string, std::string> attrs;
  std::vector<double> values;
  /// attrs[key] as an integer (`fallback` when absent); ModelError when it is not one.
  int64_t attr(const std::string& key, int64_t fallback) const;
};
std::string format_folded_ops(const std::vector<FoldedOp>& ops);
/// Inverse of format_folded_ops; ModelError naming `text` when it is malformed.
std::vector<FoldedOp> parse_folded_ops(const std::string& text);

}  // namespace snare::io::onnx::detail
