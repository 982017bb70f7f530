// The command line as users meet it: exit codes of docs/cli.md, messages, and the checks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "io/model_file.h"
#include "run_snare.h"

namespace {

using snare::testing::run_snare;
using snare::testing::scratch;

const char* kRyecatcher = "../shared/models/keras/lenet5_mnist_keras2.3.1_ryecatcher.h5";
const char* kLstm = "../shared/models/keras/har_conv1d_lstm_keras3.12.1_nithish.h5";

bool have_fixtures() { return std::filesystem::exists(kRyecatcher); }

int64_t json_total(const std::string& output, const char* key) {
  return nlohmann::json::parse(output)["total"][key].get<int64_t>();
}

TEST(Cli, UsageErrorsExitWith2) {
  EXPECT_EQ(run_snare("").exit_code, 2);
  EXPECT_EQ(run_snare("frobnicate").exit_code, 2);
  auto r = run_snare("analyze --arch resnet9000");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown architecture 'resnet9000'"), std::string::npos) << r.output;
  EXPECT_EQ(run_snare("analyze").exit_code, 2);
  EXPECT_EQ(run_snare("analyze x.h5 --arch lenet5").exit_code, 2);
  r = run_snare("reduce --arch lenet5 --data mnist -o x.h5 --baseline-recipe pytorch");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--baseline-recipe"), std::string::npos) << r.output;
  auto dir = scratch("usage");
  r = run_snare("reduce --arch lenet5 --data mnist --augment gain=2 -o " + (dir / "x.h5").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--augment"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "x_report")) << "a bad flag must not leave a report folder";
  for (const char* flags :
       {"--confirm-split 0.9", "--confirm-split -0.1", "--rule bonferroni", "--margin -1", "--confirm-margin -1",
        "--mac-weight -1", "--max-loss nan", "--time-limit inf", "--lr inf", "--val-split nan", "--margin nan",
        "--budget-macs 100 --budget-params 100"}) {
    r = run_snare(std::string("reduce --arch lenet5 --data mnist ") + flags + " -o " + (dir / "x.h5").string());
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.output;
    EXPECT_NE(r.output.find(std::string(flags).substr(0, std::string(flags).find(' '))), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "x_report")) << flags;
  }
  // The library names the option it refuses by its field; the user reads the flag (cli/flag_names.cpp).
  r = run_snare("train --arch lenet5 --data mnist --epochs 1 --lr inf -o " + (dir / "t.h5").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--lr"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Options::"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "t.h5"));
  r = run_snare("analyze --arch lenet5", "SNARE_THREADS=abc");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("SNARE_THREADS"), std::string::npos) << r.output;
  EXPECT_EQ(run_snare("analyze --arch lenet5", "SNARE_THREADS=1").exit_code, 0);
  r = run_snare("prune --arch lenet5 --layer conv2d --remove 2 --criterion activation --data mnist --samples -1 -o " +
                (dir / "p.h5").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--samples"), std::string::npos) << r.output;
}

// A --report path that is a file was an internal error from the filesystem library: it is an output problem.
TEST(Cli, ReportFolderThatIsAFileIsAnOutputError) {
  auto dir = scratch("report_file");
  std::ofstream(dir / "taken") << "a file, not a folder";
  auto r = run_snare("reduce --arch lenet5 --data mnist --report " + (dir / "taken").string() + " -o " +
                     (dir / "x.h5").string());
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("taken"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
}

// A bug report needs more than snare's version: the LibTorch and BLAS kernels behind the numbers, and the machine.
TEST(Cli, VersionNamesLibTorchBlasAndMachine) {
  auto r = run_snare("--version");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("snare ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\nLibTorch "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nBLAS: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nmachine: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cores"), std::string::npos) << r.output;
  // A machine-wide OPENBLAS_CORETYPE picks the kernels, and with them the rounding of every result: it is named.
  // (--version runs no matrix product, so any core name is safe here.)
  const bool openblas = r.output.find("BLAS: OpenBLAS") != std::string::npos;
  r = run_snare("--version", "OPENBLAS_CORETYPE=Haswell");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  if (openblas) {
    EXPECT_NE(r.output.find("set by OPENBLAS_CORETYPE"), std::string::npos) << r.output;
  }
  r = run_snare("--version", "env -u OPENBLAS_CORETYPE");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("set by OPENBLAS_CORETYPE"), std::string::npos) << r.output;
}

TEST(Cli, AnalyzeJsonGivesTheReferenceCounts) {
  auto r = run_snare("analyze --arch lenet5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_total(r.output, "params"), 61706);
  EXPECT_EQ(json_total(r.output, "macs"), 416520);
  EXPECT_EQ(json_total(r.output, "flops"), 2 * 416520);
  EXPECT_EQ(json_total(run_snare("analyze --arch lenet5-caffe --json").output, "params"), 431080);
  EXPECT_EQ(json_total(run_snare("analyze --arch lenet-300-100 --json").output, "params"), 266610);
}

TEST(Cli, NonsenseTrainingFlagsExitWith2AndWriteNothing) {
  auto dir = scratch("flags");
  std::string out = (dir / "m.h5").string();
  for (const char* flags : {"--epochs -1", "--epochs 0", "--epochs 99999999999", "--lr 0", "--batch 0", "--optimizer rmsprop", "--scale huge",
                            "--augment scale=-1", "--augment shift=0.5", "--keep first"}) {
    auto r = run_snare(std::string("train --arch lenet5 --data mnist ") + flags + " -o " + out);
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.output;
  }
  EXPECT_EQ(run_snare("train --arch lenet5 --data mnist -o " + (dir / "m.txt").string()).exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Cli, MissingOrBrokenDataExitsWith5) {
  auto dir = scratch("data");
  auto r = run_snare("eval x.h5 --data mnist", "SNARE_DATA=" + (dir / "none").string());
  EXPECT_NE(r.exit_code, 0);
  r = run_snare("train --arch lenet5 --data mnist -o " + (dir / "m.h5").string(), "SNARE_DATA=" + dir.string());
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("mnist"), std::string::npos) << r.output;
  // A folder of IDX files with a wrong magic.
  std::filesystem::create_directories(dir / "bad");
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                        "t10k-labels-idx1-ubyte"}) {
    std::ofstream(dir / "bad" / f) << "not an idx file at all";
  }
  r = run_snare("train --arch lenet5 --data " + (dir / "bad").string() + " -o " + (dir / "m.h5").string());
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("magic"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "m.h5"));
}

TEST(Cli, CorruptModelExitsWith3) {
  auto dir = scratch("model");
  std::ofstream(dir / "junk.h5") << "garbage";
  auto r = run_snare("analyze " + (dir / "junk.h5").string());
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("junk.h5"), std::string::npos) << r.output;
  EXPECT_EQ(run_snare("analyze " + (dir / "missing.onnx").string()).exit_code, 3);
}

// A disk that fills up mid-write: a file-size limit (ulimit -f, with SIGXFSZ ignored so that write() fails with
// EFBIG instead) makes every format's write fail part-way. Exit 6 naming the target and the reason; no file, no
// temporary. The .h5 case used to crash inside HDF5 at exit (139).
TEST(Cli, AWriteThatRunsOutOfSpaceIsExit6AndLeavesNothing) {
  if (!have_fixtures()) GTEST_SKIP() << "no ../shared";
  auto dir = scratch("full_disk");
  for (const char* ext : {"h5", "keras", "onnx"}) {
    const std::string out = (dir / (std::string("m.") + ext)).string();
    auto r = snare::testing::run_shell("trap '' XFSZ; ulimit -f 40; " + snare::testing::snare_bin() + " export " +
                                       kRyecatcher + " -o " + out);
    EXPECT_EQ(r.exit_code, 6) << ext << ": " << r.output;
    EXPECT_NE(r.output.find(out), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(".tmp"), std::string::npos) << "messages name the target: " << r.output;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "no output and no temporary left";
}

// --max-memory bounds what a file may make snare allocate: a weight beyond it is refused before it is read.
TEST(Cli, MaxMemoryRefusesWeightsBeyondItBeforeReading) {
  if (!have_fixtures()) GTEST_SKIP() << "no ../shared";
  const std::string model = kRyecatcher;
  EXPECT_EQ(run_snare("analyze " + model + " --max-memory 1G").exit_code, 0);
  auto r = run_snare("analyze " + model + " --max-memory 100K");  // its Dense kernel is 400 x 120 floats, 192 KB
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("memory limit"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--max-memory"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lenet5_mnist_keras2.3.1_ryecatcher.h5"), std::string::npos) << r.output;
  for (const char* bad : {"abc", "0", "-5", "4X", "99999999999999999999"}) {
    r = run_snare("analyze " + model + " --max-memory " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
    EXPECT_NE(r.output.find("--max-memory"), std::string::npos) << r.output;
  }
}

TEST(Cli, PruneKeepThreeFiltersOfTheKerasLeNet) {
  if (!have_fixtures()) GTEST_SKIP() << "no ../shared";
  auto dir = scratch("prune");
  std::string out = (dir / "x.h5").string();
  auto dry = run_snare(std::string("prune ") + kRyecatcher + " --layer conv2d_1 --keep 3 --dry-run");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("params 61706 -> 60428"), std::string::npos) << dry.output;
  EXPECT_FALSE(std::filesystem::exists(out));
  auto r = run_snare(std::string("prune ") + kRyecatcher + " --layer conv2d_1 --keep 3 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = snare::analysis::analyze(snare::io::load_model(out));
  EXPECT_EQ(s.params, 61706 - 3 * (25 + 1) - 3 * 25 * 16);
  // What --dry-run predicted for MACs is what the written model has.
  EXPECT_NE(dry.output.find("MACs 416520 -> " + std::to_string(s.macs)), std::string::npos) << dry.output;
}

TEST(Cli, PruneRefusesWhatCannotBeDone) {
  if (!have_fixtures()) GTEST_SKIP() << "no ../shared";
  auto dir = scratch("refuse");
  std::string out = (dir / "x.h5").string();
  for (const char* args : {"--layer dense_3 --keep 5",   // the output layer
                           "--layer conv2d_1 --keep 0",  // emptying a layer
                           "--layer conv2d_1 --remove 100%", "--layer nope --keep 1", "--sparsity 1.0",
                           "--sparsity -0.5", "--layer flatten_1 --keep 2",
                           "--layer conv2d_1 --keep 3 --compensate"}) {  // bias compensation needs --data
    auto r = run_snare(std::string("prune ") + kRyecatcher + " " + args + " -o " + out);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
  }
  auto r = run_snare(std::string("factorize ") + kRyecatcher + " --layer dense_1 --rank 5000 -o " + out);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// With --compensate, what the removed units fed the next layer on average moves into its bias; without, the bias stays.
TEST(Cli, PruneCompensateMovesTheRemovedUnitsMeanIntoTheNextBias) {
  auto dir = scratch("compensate");
  const std::string model = (dir / "lenet5.h5").string(), plain = (dir / "plain.h5").string(),
                    compensated = (dir / "compensated.h5").string();
  auto r = run_snare("export --arch lenet5 -o " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string args = "prune " + model + " --layer dense --remove 50% --data mnist --samples 256 -o ";
  r = run_snare(args + plain);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_snare(args + compensated + " --compensate");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const snare::ir::Graph before = snare::io::load_model(model), a = snare::io::load_model(plain),
                         b = snare::io::load_model(compensated);
  EXPECT_TRUE(at::equal(a.layer("dense_1").weights.at("bias"), before.layer("dense_1").weights.at("bias")));
  EXPECT_FALSE(at::allclose(b.layer("dense_1").weights.at("bias"), a.layer("dense_1").weights.at("bias")));
  EXPECT_TRUE(at::equal(b.layer("dense_1").weights.at("weight"), a.layer("dense_1").weights.at("weight")));
}

TEST(Cli, LstmUnitRemovalGivesAValidSmallerModel) {
  if (!have_fixtures()) GTEST_SKIP() << "no ../shared";
  auto dir = scratch("lstm");
  std::string out = (dir / "lstm.h5").string();
  auto before = snare::analysis::analyze(snare::io::load_model(kLstm));
  auto r = run_snare(std::string("prune ") + kLstm + " --layer lstm --remove 40% -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto g = snare::io::load_model(out);
  EXPECT_EQ(g.layer("lstm").units, 60);
  EXPECT_LT(snare::analysis::analyze(g).params, before.params);
}

TEST(Cli, MasksSurviveFineTuning) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = scratch("masks");
  std::string masked = (dir / "masked.h5").string(), tuned = (dir / "tuned.h5").string();
  ASSERT_EQ(run_snare("export --arch lenet5 -o " + (dir / "l.h5").string()).exit_code, 0);
  auto r = run_snare("prune " + (dir / "l.h5").string() + " --sparsity 0.9 -o " + masked);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto before = snare::io::load_model(masked);
  r = run_snare("train " + masked + " --data mnist --epochs 1 -o " + tuned);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto after = snare::io::load_model(tuned);
  int masked_tensors = 0;
  for (const auto& l : before.layers) {
    for (const auto& [name, mask] : l.masks) {
      const at::Tensor& w = after.layer(l.name).weights.at(name);
      // Masked weights are still exactly zero, and the mask came back with the file.
      EXPECT_EQ(w.ne(0).logical_and(mask.eq(0)).sum().item<int64_t>(), 0) << l.name;
      EXPECT_EQ(w.ne(0).sum().item<int64_t>(), mask.sum().item<int64_t>()) << l.name;
      EXPECT_TRUE(after.layer(l.name).masks.count(name)) << l.name;
      ++masked_tensors;
    }
  }
  EXPECT_EQ(masked_tensors, 5);
}

TEST(Cli, TrainLeNet5ThreeEpochsReaches985AndIsReproducible) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = scratch("train");
  std::string a = (dir / "a.h5").string(), b = (dir / "b.h5").string();
  ASSERT_EQ(run_snare("train --arch lenet5 --data mnist --epochs 3 --seed 1 -o " + a).exit_code, 0);
  auto r = run_snare("eval " + a + " --data mnist --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_GE(j["accuracy"].get<double>(), 0.985);
  EXPECT_EQ(j["samples"].get<int>(), 10000);
  ASSERT_EQ(run_snare("train --arch lenet5 --data mnist --epochs 3 --seed 1 -o " + b).exit_code, 0);
  EXPECT_EQ(snare::ir::dump(snare::io::load_model(a)), snare::ir::dump(snare::io::load_model(b)));

  // Paired test against an untrained LeNet-5: the counts add up to the accuracy gap, and it is no chance.
  std::string untrained = (dir / "untrained.h5").string();
  ASSERT_EQ(run_snare("export --arch lenet5 -o " + untrained).exit_code, 0);
  auto c = run_snare("eval " + a + " --data mnist --json --against " + untrained);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  auto against = nlohmann::json::parse(c.output)["against"];
  double gap = j["accuracy"].get<double>() - against["accuracy"].get<double>();
  EXPECT_GT(gap, 0.5);
  EXPECT_EQ(against["only_model_correct"].get<int>() - against["only_against_correct"].get<int>(),
            static_cast<int>(std::lround(gap * 10000)));
  EXPECT_LT(against["mcnemar_p"].get<double>(), 1e-10);
  auto same = nlohmann::json::parse(run_snare("eval " + a + " --data mnist --json --against " + b).output)["against"];
  EXPECT_EQ(same["only_model_correct"].get<int>() + same["only_against_correct"].get<int>(), 0);
  EXPECT_DOUBLE_EQ(same["mcnemar_p"].get<double>(), 1.0);
}

TEST(Cli, EvalKerasFixtureReproducesTheReference) {
  if (!have_fixtures() || !snare::testing::have_mnist()) GTEST_SKIP() << "no fixtures or MNIST";
  auto r = run_snare(std::string("eval ") + kRyecatcher + " --data mnist --scale raw --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NEAR(nlohmann::json::parse(r.output)["accuracy"].get<double>(), 0.9784, 0.0005);
}

}  // namespace

namespace {

TEST(Cli, MissingOutputFolderExitsWith6BeforeWork) {
  auto r = snare::testing::run_snare("export --arch lenet5 -o /nonexistent-snare-dir/m.h5");
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("/nonexistent-snare-dir"), std::string::npos) << r.output;
}

}  // namespace
