// Exit 1 is for snare's own bugs (docs/cli.md). This walks a corpus of broken inputs made from real files (the
// third-party models of ../shared and MNIST): truncations at many lengths and bytes overwritten at many places,
// each read by `snare analyze` (models) or `snare eval` (data). Every one must end in 0 (a flipped byte inside a
// weight is still a valid file) or in the input's own code (3 model, 4 unsupported, 5 data) with a message naming
// the file; never 1, never a signal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "run_snare.h"

namespace {

namespace fs = std::filesystem;
using snare::testing::read_text;
using snare::testing::run_snare;

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct Variant {
  std::string name;
  std::string bytes;
};

/// The file emptied, truncated at `cuts` lengths spread over it, and with runs of 16 bytes overwritten with 0xFF at
/// `overwrites` places (a fixed sequence, so every run sees the same corpus), half of them in the first 4 KB where
/// the headers, superblocks and zip directories sit.
std::vector<Variant> broken_copies(const std::string& good, int cuts, int overwrites) {
  std::vector<Variant> out;
  const size_t n = good.size();
  out.push_back({"empty", ""});
  for (int i = 1; i <= cuts; ++i) {
    const size_t len = n * static_cast<size_t>(i) / static_cast<size_t>(cuts + 1);
    out.push_back({"truncated to " + std::to_string(len), good.substr(0, len)});
  }
  uint64_t state = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < overwrites; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t span = i % 2 == 0 ? std::min<size_t>(n, 4096) : n;
    const size_t at = static_cast<size_t>(state >> 33) % std::max<size_t>(1, span - 16);
    std::string bytes = good;
    for (size_t k = at; k < std::min(n, at + 16); ++k) bytes[k] = static_cast<char>(0xFF);
    out.push_back({"16 bytes overwritten at " + std::to_string(at), bytes});
  }
  return out;
}

/// Writes each broken copy of `original` to `place` (a path in a scratch folder), runs `snare ARGS`, and checks the
/// exit code and the message.
void expect_clean_failures(const fs::path& original, const fs::path& place, const std::string& args,
                           const std::vector<int>& allowed, int cuts, int overwrites) {
  const std::string good = read_text(original);
  ASSERT_FALSE(good.empty()) << original;
  int failed_cleanly = 0;
  const std::vector<Variant> variants = broken_copies(good, cuts, overwrites);
  for (const Variant& v : variants) {
    write_bytes(place, v.bytes);
    const auto r = run_snare(args);
    const bool allowed_code = r.exit_code == 0 || std::find(allowed.begin(), allowed.end(), r.exit_code) != allowed.end();
    EXPECT_TRUE(allowed_code) << original.filename() << ", " << v.name << ": exit " << r.exit_code << "\n" << r.output;
    if (r.exit_code != 0 && allowed_code) {
      ++failed_cleanly;
      EXPECT_NE(r.output.find(place.filename().string()), std::string::npos)
          << original.filename() << ", " << v.name << ": the message does not name the file\n" << r.output;
    }
  }
  EXPECT_GT(failed_cleanly, static_cast<int>(variants.size()) / 3) << "most broken copies must be refused";
}

void expect_clean_model_failures(const fs::path& model) {
  if (!fs::exists(model)) GTEST_SKIP() << "no ../shared";
  const fs::path place = snare::testing::scratch("broken_" + model.stem().string()) / model.filename();
  expect_clean_failures(model, place, "analyze " + place.string(), {3, 4}, 8, 14);
}

TEST(BrokenInputs, KerasH5) { expect_clean_model_failures("../shared/models/keras/lenet5_mnist_keras2.3.1_ryecatcher.h5"); }

TEST(BrokenInputs, KerasZip) {
  expect_clean_model_failures("../shared/models/keras/lenet5_mnist_tanh_avgpool_keras3.10.0_jambrr.keras");
}

TEST(BrokenInputs, Onnx) { expect_clean_model_failures("../shared/models/onnx/mnist_cnn_tf2onnx1.6.3_opset8_llf.onnx"); }

// MNIST's test labels and images broken in a copy of the data folder (the training files linked), read by `eval`.
TEST(BrokenInputs, MnistIdx) {
  const fs::path model = "../shared/models/keras/lenet5_mnist_keras2.3.1_ryecatcher.h5";
  if (!snare::testing::have_mnist() || !fs::exists(model)) GTEST_SKIP() << "no MNIST or ../shared";
  for (const char* broken : {"t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte"}) {
    const fs::path dir = snare::testing::scratch(std::string("broken_") + broken);
    for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte"}) {
      if (std::string(f) != broken) fs::create_symlink(fs::absolute(fs::path("data/mnist") / f), dir / f);
    }
    expect_clean_failures(fs::path("data/mnist") / broken, dir / broken,
                          "eval " + model.string() + " --data " + dir.string(), {5}, 4, 4);
  }
}

}  // namespace
