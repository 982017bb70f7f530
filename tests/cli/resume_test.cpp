// A `snare reduce` run killed with SIGKILL mid-way and resumed ends with the same model as an
// uninterrupted run with the same seed, augmentation included. Small settings keep it to seconds.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/model_file.h"
#include "run_snare.h"

namespace {

namespace fs = std::filesystem;
using snare::testing::run_snare;

const std::string kQuick =
    "reduce --arch lenet5 --data mnist --seed 3 --train-samples 2000 --baseline-epochs 1 --retrain-batches 4 "
    "--finetune-epochs 1 --no-lowrank --budget-params 20000 --max-loss 5 --augment scale=0.1,shift=2 --keep-steps";

/// Steps recorded in a report without their timings, which differ between runs.
nlohmann::json steps_without_time(const fs::path& report) {
  std::ifstream in(report / "report.json");
  nlohmann::json j = nlohmann::json::parse(in);
  nlohmann::json steps = j["steps"];
  for (auto& s : steps) s.erase("seconds");
  return steps;
}

int64_t checkpoint_step(const fs::path& report) {
  std::ifstream in(report / "checkpoint.json");
  if (!in) return 0;
  try {
    return nlohmann::json::parse(in)["state"]["next_step"].get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
}

TEST(Resume, KilledAndResumedRunEndsLikeAnUninterruptedOne) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("resume");
  auto full = run_snare(kQuick + " -o " + (dir / "full.h5").string());
  ASSERT_EQ(full.exit_code, 0) << full.output;

  // Start the same run, kill it once it has checkpointed a few steps, then resume.
  std::string cmd = snare::testing::snare_bin() + " " + kQuick + " -o " + (dir / "resumed.h5").string();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  fs::path report = dir / "resumed_report";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (checkpoint_step(report) < 4 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) FAIL() << "run ended before it could be killed";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_FALSE(fs::exists(dir / "resumed.h5")) << "killed before the end, so no output yet";

  auto resumed = run_snare(kQuick + " --resume -o " + (dir / "resumed.h5").string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
  EXPECT_EQ(snare::ir::dump(snare::io::load_model((dir / "resumed.h5").string())),
            snare::ir::dump(snare::io::load_model((dir / "full.h5").string())));
  EXPECT_EQ(steps_without_time(report), steps_without_time(dir / "full_report"));
  std::ifstream in(dir / "full_report" / "report.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["options"]["augment"], "scale=0.1,noise=0,shift=2");
  // The default confirmation split: 10% of the 2,000 samples, judged and explained in the report.
  EXPECT_EQ(j["tolerance"]["confirmation"]["samples"], 200);
  EXPECT_EQ(j["tolerance"]["rule"], "paired");
  EXPECT_FALSE(j["final"]["confirm_accuracy"].is_null());
  EXPECT_NE(j["tolerance"]["meaning"].get<std::string>().find("200 confirmation samples"), std::string::npos);
  // At most one confirmed-model checkpoint stays: the one the state points at.
  int confirmed_files = 0;
  for (const auto& e : fs::directory_iterator(report)) {
    confirmed_files += e.path().filename().string().rfind("checkpoint_confirmed_step", 0) == 0 ? 1 : 0;
  }
  EXPECT_LE(confirmed_files, 1);
  // --keep-steps: every accepted step's model, the returned one among them.
  const int64_t returned = j["tolerance"]["returned_step"];
  ASSERT_GT(returned, 0) << "a 5-point tolerance keeps some step";
  EXPECT_EQ(snare::ir::dump(snare::io::load_model((dir / "full_report" / "steps" / fmt::format("step{}.h5", returned)).string())),
            snare::ir::dump(snare::io::load_model((dir / "full.h5").string())));
}

}  // namespace
