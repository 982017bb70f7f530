// The fuzzing harness under CTest: every input fuzzing once broke (tests/fuzz/regressions/<reader>/) is read or
// refused naming the input, and the seeds fuzzing starts from are read by each reader (a harness that refused
// everything would fuzz nothing).
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "data/python_util.h"
#include "fuzz/readers.h"
#include "fuzz/seed_graphs.h"
#include "io/keras/keras.h"
#include "io/onnx/onnx.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace snare;

TEST(FuzzRegressions, EveryKeptInputIsReadOrRefusedNamingIt) {
  const fs::path root = "tests/fuzz/regressions";
  ASSERT_TRUE(fs::is_directory(root)) << "run from the repository root";
  int inputs = 0;
  for (const auto& folder : fs::directory_iterator(root)) {
    if (!folder.is_directory()) continue;
    const fuzz::Reader* reader = fuzz::find_reader(folder.path().filename().string());
    ASSERT_NE(reader, nullptr) << folder.path() << " is named after no reader";
    for (const auto& file : fs::directory_iterator(folder.path())) {
      SCOPED_TRACE(file.path().string());
      EXPECT_NO_THROW(fuzz::run(*reader, test::read_file(file.path().string())));
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 0);
}

TEST(FuzzRegressions, EveryReaderReadsItsSeeds) {
  test::TempDir dir;
  for (const ir::Graph& g : fuzz::seed_graphs()) {
    SCOPED_TRACE(g.name);
    const std::string h5 = dir.str(g.name + ".h5"), onnx = dir.str(g.name + ".onnx");
    io::keras::write_keras(g, h5);
    EXPECT_EQ(fuzz::run(*fuzz::find_reader("keras_h5"), test::read_file(h5)), fuzz::Outcome::kRead);
    try {
      io::onnx::write_onnx(g, onnx);
    } catch (const UnsupportedError&) {
      continue;
    }
    EXPECT_EQ(fuzz::run(*fuzz::find_reader("onnx"), test::read_file(onnx)), fuzz::Outcome::kRead);
  }
  const auto& templates = fuzz::config_templates();
  EXPECT_GE(templates.size(), 10u);
  for (size_t k = 0; k < templates.size(); ++k) {
    SCOPED_TRACE(templates[k].name);
    std::string input = std::string(1, static_cast<char>(k)) + templates[k].config_json;
    EXPECT_EQ(fuzz::run(*fuzz::find_reader("keras_config"), input), fuzz::Outcome::kRead);
  }
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("csv"), "a,b,label\n1,2,x\n3,4,y\n"), fuzz::Outcome::kRead);
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("idx"), std::string("\0\0\x08\x01\0\0\0\x02\x07\x09", 10)),
            fuzz::Outcome::kRead);
}

TEST(FuzzRegressions, TheUserDataReadersReadFilesNumPyH5pyAndPillowWrote) {
  if (!test::python_has("h5py") || !test::python_has("PIL")) GTEST_SKIP() << "needs Debian's python3-h5py and python3-pil";
  test::TempDir tmp;
  ASSERT_TRUE(test::run_python_in(tmp, "import h5py\nfrom PIL import Image\n", R"(
x = np.arange(6 * 16, dtype=np.uint8).reshape(6, 4, 4)
y = np.array([0, 1, 2, 0, 1, 2])
np.savez_compressed("a.npz", x_train=x, y_train=y, x_test=x[:3], y_test=y[:3])
with h5py.File("a.h5", "w") as f:
    f["x_train"], f["y_train"], f["x_test"], f["y_test"] = x.astype(np.float32), y, x[:3], y[:3]
Image.fromarray(np.arange(30, dtype=np.uint8).reshape(5, 6)).save("a.png")
Image.fromarray(np.arange(90, dtype=np.uint8).reshape(5, 6, 3)).save("a.jpg")
)"));
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("npz"), test::read_file(tmp.str("a.npz"))), fuzz::Outcome::kRead);
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("h5_data"), test::read_file(tmp.str("a.h5"))), fuzz::Outcome::kRead);
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("image"), test::read_file(tmp.str("a.png"))), fuzz::Outcome::kRead);
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("image"), test::read_file(tmp.str("a.jpg"))), fuzz::Outcome::kRead);
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("image"), "GIF89a no image"), fuzz::Outcome::kRefused);
}

TEST(FuzzRegressions, ARefusalMustNameTheInput) {
  // The rule the fuzzers enforce, checked on itself: a refusal passes, a message without the input's name does not.
  EXPECT_EQ(fuzz::run(*fuzz::find_reader("onnx"), "not a protobuf"), fuzz::Outcome::kRefused);
  fuzz::Reader unnamed{"unnamed", "input.x", [](const std::string&) { throw ModelError("something is wrong"); }};
  EXPECT_THROW(fuzz::run(unnamed, ""), fuzz::Bug);
  fuzz::Reader buggy{"buggy", "input.x", [](const std::string&) { throw std::out_of_range("input.x: vector"); }};
  EXPECT_THROW(fuzz::run(buggy, ""), fuzz::Bug);
}
