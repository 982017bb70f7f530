#include "io/model_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "io/keras/keras.h"
#include "io/onnx/onnx.h"

namespace snare::io {

ModelFormat format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".h5" || ext == ".hdf5") return ModelFormat::kKerasH5;
  if (ext == ".keras") return ModelFormat::kKerasZip;
  if (ext == ".onnx") return ModelFormat::kOnnx;
  throw OptionError("model file name",
                    fmt::format("{}: unknown model format '{}' (expected .h5, .hdf5, .keras or .onnx)", path, ext));
}

ir::Graph load_model(const std::string& path) {
  ModelFormat format = format_of(path);
  if (!std::filesystem::is_regular_file(path)) throw ModelError(fmt::format("{}: model file not found", path));
  ir::Graph g;
  switch (format) {
    case ModelFormat::kKerasH5:
    case ModelFormat::kKerasZip: g = keras::read_keras(path); break;
    case ModelFormat::kOnnx: g = onnx::read_onnx(path); break;
  }
  // Both readers verify what they return, inside their scope that names the file.
  g.infer_shapes();
  return g;
}

void save_model(const ir::Graph& graph, const std::string& path) {
  switch (format_of(path)) {
    case ModelFormat::kKerasH5:
    case ModelFormat::kKerasZip: keras::write_keras(graph, path); return;
    case ModelFormat::kOnnx: onnx::write_onnx(graph, path); return;
  }
}

}  // namespace snare::io
