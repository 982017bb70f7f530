// Distributed runs on 127.0.0.1 as a user starts them: `snare launch -n 2 -- ...`, or two processes with
// --world-size/--rank/--rendezvous. Data-parallel training gives the same weights on both ranks and the accuracy of
// one process; a reduce over two ranks ends with a valid model and report; a rank that dies ends the other with
// exit 7, and --resume finishes the run; ranks with other options are refused at the rendezvous; --trials 2 over two
// ranks takes the steps of --trials 2 in one process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "io/model_file.h"
#include "run_snare.h"

namespace {

namespace fs = std::filesystem;
using snare::testing::checkpoint_step;
using snare::testing::read_text;
using snare::testing::run_snare;

/// The test accuracy `snare train` prints.
double test_accuracy(const std::string& output) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("test accuracy ([0-9.]+)"))) return -1;
  return std::stod(m[1]);
}

/// A free-ish port per test program and purpose (pid-based, away from the launcher's kernel-picked ones).
std::string rendezvous(int offset) { return "tcp://127.0.0.1:" + std::to_string(41000 + (::getpid() * 5 + offset) % 9000); }

/// Starts `snare ARGS` in the background with its output in `log`, on one thread as `launch -n 2` runs each rank
/// on this 2-core machine (another thread count sums floats in another order, and the trajectory differs).
pid_t start_snare(const std::string& args, const fs::path& log) {
  const std::string cmd =
      "SNARE_THREADS=1 exec " + snare::testing::snare_bin() + " " + args + " >" + log.string() + " 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int exit_code_of(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const std::string kTrain = "train --arch lenet5 --data mnist --epochs 1 --batch 128 --seed 2";

TEST(Distributed, TwoRanksTrainLeNet5ToTheSameWeightsAndTheAccuracyOfOneProcess) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("dist_train");
  // One epoch of 60,000 digits: 469 batches, each split over the two ranks and their gradients summed.
  auto two = run_snare("launch -n 2 -- " + kTrain + " -o " + (dir / "two.onnx").string());
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("over 2 ranks (same weights on each, checked)"), std::string::npos) << two.output;
  auto one = run_snare(kTrain + " -o " + (dir / "one.onnx").string());
  ASSERT_EQ(one.exit_code, 0) << one.output;
  // Within noise: the same batches and gradients up to the order of float sums (and rank-local BatchNorm, none here).
  EXPECT_NEAR(test_accuracy(two.output), test_accuracy(one.output), 0.006) << two.output << one.output;
  EXPECT_GT(test_accuracy(two.output), 0.95);
  // The same seed and world size give the same model, byte for byte; rank 1 wrote nothing.
  auto again = run_snare("launch -n 2 -- " + kTrain + " -o " + (dir / "again.onnx").string());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_text(dir / "two.onnx"), read_text(dir / "again.onnx"));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 3);
}

TEST(Distributed, RanksWithOtherOptionsOrBadFlagsAreRefused) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("dist_refuse");
  const std::string where = " --world-size 2 --rendezvous " + rendezvous(1) + " --dist-timeout 60";
  pid_t r0 = start_snare(kTrain + where + " --rank 0 -o " + (dir / "a.h5").string(), dir / "r0.log");
  pid_t r1 = start_snare("train --arch lenet5 --data mnist --epochs 1 --batch 128 --seed 5" + where + " --rank 1 -o " +
                             (dir / "b.h5").string(), dir / "r1.log");
  EXPECT_EQ(exit_code_of(r0), 7) << read_text(dir / "r0.log");
  EXPECT_EQ(exit_code_of(r1), 7) << read_text(dir / "r1.log");
  for (const char* log : {"r0.log", "r1.log"}) {
    EXPECT_NE(read_text(dir / log).find("do not run the same training"), std::string::npos) << read_text(dir / log);
    EXPECT_NE(read_text(dir / log).find("seed 5"), std::string::npos) << read_text(dir / log);
  }
  EXPECT_FALSE(fs::exists(dir / "a.h5"));
  EXPECT_FALSE(fs::exists(dir / "b.h5"));

  auto rank = run_snare(kTrain + " --world-size 2 --rank 2 -o x.h5");
  EXPECT_EQ(rank.exit_code, 2) << rank.output;
  EXPECT_NE(rank.output.find("--rank: must be from 0 to world size - 1 = 1, got 2"), std::string::npos) << rank.output;
  auto url = run_snare(kTrain + " --world-size 2 --rendezvous http://h:1 -o x.h5");
  EXPECT_EQ(url.exit_code, 2) << url.output;
  EXPECT_NE(url.output.find("--rendezvous: expected tcp://HOST:PORT"), std::string::npos) << url.output;
  auto env = run_snare(kTrain + " -o x.h5", "WORLD_SIZE=two");
  EXPECT_EQ(env.exit_code, 2) << env.output;
  EXPECT_NE(env.output.find("WORLD_SIZE: expected a whole number"), std::string::npos) << env.output;
  auto alone = run_snare(kTrain + " --world-size 2 --rendezvous " + rendezvous(2) + " --rank 1 --dist-timeout 2 -o x.h5");
  EXPECT_EQ(alone.exit_code, 7) << alone.output;
  EXPECT_NE(alone.output.find("rendezvous at 127.0.0.1"), std::string::npos) << alone.output;
}

const std::string kReduce =
    "reduce --arch lenet5 --data mnist --seed 3 --train-samples 2000 --baseline-epochs 1 --retrain-batches 4 "
    "--finetune-epochs 1 --no-lowrank --budget-params 20000 --max-loss 5";

TEST(Distributed, ReduceOverTwoRanksSurvivesAKilledRankThroughResume) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("dist_reduce");
  // One thread per rank everywhere, so the hand-started ranks below sum floats in the same order as these.
  auto full = run_snare("launch -n 2 -- " + kReduce + " -o " + (dir / "full.h5").string(), "SNARE_THREADS=1");
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const nlohmann::json report = nlohmann::json::parse(read_text(dir / "full_report" / "report.json"));
  EXPECT_EQ(report["distributed"]["world_size"], 2);
  EXPECT_EQ(report["stop_reason"].get<std::string>().rfind("parameter budget met", 0), 0u) << report["stop_reason"];
  EXPECT_LE(report["final"]["nonzero_params"].get<int64_t>(), 20000);
  EXPECT_NO_THROW(snare::io::load_model((dir / "full.h5").string()));
  EXPECT_TRUE(fs::exists(dir / "full.onnx"));

  // Two ranks by hand; rank 1 dies with SIGKILL once rank 0 has checkpointed two steps.
  const std::string where = " --world-size 2 --rendezvous " + rendezvous(3) + " --dist-timeout 30";
  const fs::path out = dir / "killed.h5", report_dir = dir / "killed_report";
  pid_t r0 = start_snare(kReduce + where + " --rank 0 -o " + out.string(), dir / "r0.log");
  pid_t r1 = start_snare(kReduce + where + " --rank 1 -o " + out.string(), dir / "r1.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (checkpoint_step(report_dir) < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(checkpoint_step(report_dir), 3) << read_text(dir / "r0.log");
  kill(r1, SIGKILL);
  EXPECT_EQ(exit_code_of(r1), 128 + SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  EXPECT_EQ(exit_code_of(r0), 7) << read_text(dir / "r0.log");
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(30));
  const std::string log = read_text(dir / "r0.log");
  EXPECT_NE(log.find("rank 0 of 2:"), std::string::npos) << log;
  EXPECT_NE(log.find("Another rank stopped"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out));

  // Resumed by one process (a copy of the report folder): another world size continues from the same checkpoint.
  fs::copy(report_dir, dir / "alone_report", fs::copy_options::recursive);
  auto alone = run_snare(kReduce + " --resume -o " + (dir / "alone.h5").string(), "SNARE_THREADS=1");
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_NE(alone.output.find("resuming from"), std::string::npos) << alone.output;
  EXPECT_NO_THROW(snare::io::load_model((dir / "alone.h5").string()));

  // Resumed over two ranks again, it ends as the uninterrupted run did.
  auto resumed = run_snare("launch -n 2 -- " + kReduce + " --resume -o " + out.string(), "SNARE_THREADS=1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
  EXPECT_EQ(snare::ir::dump(snare::io::load_model(out.string())),
            snare::ir::dump(snare::io::load_model((dir / "full.h5").string())));
}

// --trials 2 over two ranks: each rank retrains one of the step's two trials alone, then both get both results. The
// steps are those of the same trials run one after the other in one process (same input model, one thread each), as
// every count summed over ranks is exact; only the final fine-tuning, data-parallel over the ranks, may differ.
TEST(Distributed, ParallelTrialsOverTwoRanksTakeTheStepsOfOneProcess) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("dist_trials");
  const fs::path base = dir / "base.h5";
  auto trained = run_snare(kTrain + " -o " + base.string(), "SNARE_THREADS=1");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const std::string reduce = "reduce " + base.string() +
                             " --data mnist --seed 3 --train-samples 2000 --retrain-batches 4 --finetune-epochs 1 "
                             "--no-lowrank --budget-params 22000 --max-loss 1 --trials 2";
  auto two = run_snare("launch -n 2 -- " + reduce + " -o " + (dir / "two.h5").string(), "SNARE_THREADS=1");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  auto one = run_snare(reduce + " -o " + (dir / "one.h5").string(), "SNARE_THREADS=1");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("2 trials at once"), std::string::npos) << one.output;
  const nlohmann::json r2 = nlohmann::json::parse(read_text(dir / "two_report" / "report.json"));
  const nlohmann::json r1 = nlohmann::json::parse(read_text(dir / "one_report" / "report.json"));
  EXPECT_EQ(r2["options"]["trials"], 2);
  EXPECT_EQ(r2["distributed"]["world_size"], 2);
  const nlohmann::json& s2 = r2["steps"];
  const nlohmann::json& s1 = r1["steps"];
  ASSERT_EQ(s2.size(), s1.size());
  ASSERT_GE(s1.size(), 3u);
  int second_trials_kept = 0;
  for (size_t i = 0; i + 1 < s1.size(); ++i) {  // the last one is the fine-tuning
    for (const char* key : {"step", "op", "target", "nonzero_params", "val_accuracy", "accepted", "reason"}) {
      EXPECT_EQ(s2[i][key], s1[i][key]) << "step record " << i << ", " << key;
    }
    const bool second = s1[i]["reason"].get<std::string>().find("(trial 2 of 2)") != std::string::npos;
    second_trials_kept += second && s1[i]["accepted"].get<bool>() ? 1 : 0;
  }
  // At this tolerance some steps keep their second trial: rank 1's retraining reached rank 0's decision.
  EXPECT_GT(second_trials_kept, 0);
  EXPECT_NO_THROW(snare::io::load_model((dir / "two.h5").string()));
}

}  // namespace
