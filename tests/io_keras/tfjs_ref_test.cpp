// Independent check of Keras semantics for the embedded model zoo: TensorFlow.js 4.22's Keras layers
// (../shared/tools/keras_tfjs_ref.mjs, pure-JS CPU backend, weights via h5wasm) run the original .h5
// and ONNX Runtime runs `snare export MODEL -o X.onnx`; the outputs must agree to rel <= 1e-4. The
// same ONNX file is then compared with the .h5 snare writes for the model, which shows a Keras
// implementation loads snare's file and computes the same. Needs node and the npm packages in
// package.json (scripts/setup.sh); skipped without them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <regex>

#include "cli/run_snare.h"
#include "io/model_file.h"
#include "keras_test_util.h"

namespace {

namespace t = snare::test;

constexpr double kTolerance = 1e-4;
/// miniresnetv2 pads with zeros before a MaxPool. ONNX Runtime's default graph optimisation (PadFusion, since 1.17)
/// folds that Pad into the MaxPool's own padding, which MaxPool treats as -inf: border windows whose values are all
/// negative then differ from Keras. With ORT's optimisations disabled the export matches TensorFlow.js to 1.9e-7
/// (measured once by hand), and snare's LibTorch forward matches it too; the bound here catches anything beyond
/// that runtime difference.
constexpr double kPadFusionTolerance = 1e-3;
double tolerance_of(const std::string& model) {
  return model.find("miniresnetv2") != std::string::npos ? kPadFusionTolerance : kTolerance;
}
const char* kRefScript = "../shared/tools/keras_tfjs_ref.mjs";

bool tfjs_available() {
  return std::filesystem::exists("node_modules/@tensorflow/tfjs-layers/package.json") &&
         std::filesystem::exists("node_modules/h5wasm/package.json") &&
         std::filesystem::exists("node_modules/onnxruntime-node/package.json") && std::filesystem::exists(kRefScript) &&
         std::system("node --version > /dev/null 2>&1") == 0;
}

struct Ref {
  int exit_code = -1;
  std::string output;
  double rel = -1;  ///< -1 when the output has no "rel" figure
};

/// Runs the reference on `h5` against `onnx` with a batch of 2.
Ref run_ref(const std::string& h5, const std::string& onnx) {
  // NODE_PATH must be absolute: the script resolves packages with createRequire(NODE_PATH + '/').
  std::string node_path = std::filesystem::absolute("node_modules").string();
  std::string cmd = "NODE_PATH='" + node_path + "' node " + kRefScript + " '" + h5 + "' '" + onnx + "' 2 2>&1";
  Ref r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::smatch m;
  static const std::regex kRel(R"(\brel ([0-9.eE+-]+|NaN|Infinity))");
  if (std::regex_search(r.output, m, kRel)) {
    try {
      r.rel = std::stod(m[1].str());
    } catch (const std::exception&) {
      r.rel = std::numeric_limits<double>::infinity();  // NaN or Infinity: a failure, not "no figure"
    }
  }
  return r;
}

std::string base_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

TEST(KerasZooTfjs, ExportsAndWrittenH5MatchTensorFlowJs) {
  if (!tfjs_available()) {
    GTEST_SKIP() << "node or node_modules (@tensorflow/tfjs-layers, h5wasm, onnxruntime-node) missing: npm install "
                    "--ignore-scripts";
  }
  t::TempDir dir;
  for (const std::string& model : t::keras_zoo_models()) {
    SCOPED_TRACE(model);
    std::string stem = std::filesystem::path(model).stem().string();
    std::string onnx = dir.str(stem + ".onnx");
    snare::testing::RunResult ex = snare::testing::run_snare("export '" + model + "' -o '" + onnx + "'");
    if (ex.exit_code != 0) {
      ADD_FAILURE() << "snare export failed (" << ex.exit_code << "): " << ex.output;
      std::cout << "[tfjs] " << base_name(model) << ": export failed\n";
      continue;
    }
    Ref original = run_ref(model, onnx);
    EXPECT_EQ(original.exit_code, 0) << original.output;
    EXPECT_GE(original.rel, 0.0) << "no 'rel' figure in: " << original.output;
    EXPECT_LE(original.rel, tolerance_of(model)) << original.output;

    // The .h5 snare writes loads in TensorFlow.js and computes what the original does.
    std::string written = dir.str(stem + ".h5");
    snare::io::save_model(snare::io::load_model(model), written);
    Ref rewritten = run_ref(written, onnx);
    EXPECT_EQ(rewritten.exit_code, 0) << rewritten.output;
    EXPECT_GE(rewritten.rel, 0.0) << "no 'rel' figure in: " << rewritten.output;
    EXPECT_LE(rewritten.rel, tolerance_of(model)) << rewritten.output;
    std::cout << "[tfjs] " << base_name(model) << ": original rel " << original.rel << ", written .h5 rel "
              << rewritten.rel << "\n";
  }
}

}  // namespace
