// snare::io::onnx — ONNX model files in and out, with the reference onnx library (libonnx + protobuf).
//
// Reading runs the ONNX checker and shape inference first (their messages wrapped with the file name),
// then maps nodes onto ir layers (Conv incl. grouped and depthwise, Gemm, MatMul+Add, activations incl.
// Clip(0, 6) and multi-node swish / hard-swish / GELU, pools, Flatten, Reshape, BatchNormalization, Add,
// Concat, Pad, LSTM, and the NHWC<->NCHW Transposes tf2onnx emits).
// Writing emits opset 13.
//
//   ir::Graph g = io::onnx::read_onnx("model.onnx");
//   io::onnx::write_onnx(g, "out.onnx");     // atomically
#pragma once

#include <string>

#include "ir/graph.h"

namespace snare::io::onnx {

/// Throws ModelError (truncated protobuf, checker failure) or UnsupportedError (one message listing
/// every unsupported op with its node name), each naming the file.
ir::Graph read_onnx(const std::string& path);
/// The same for a file's bytes held in memory; `label` names them in messages.
ir::Graph read_onnx_bytes(const std::string& bytes, const std::string& label);

/// Writes an opset-13 model that passes the ONNX checker. Atomic. Throws OutputError / UnsupportedError.
void write_onnx(const ir::Graph& graph, const std::string& path);

}  // namespace snare::io::onnx
