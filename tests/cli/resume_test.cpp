// A `snare reduce` run killed with SIGKILL mid-way and resumed ends with the same model as an
// uninterrupted run with the same seed, augmentation included. Small settings keep it to seconds.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "io/model_file.h"
#include "run_snare.h"

namespace {

namespace fs = std::filesystem;
using snare::testing::checkpoint_step;
using snare::testing::read_text;
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

/// Starts `snare ARGS` in the background, its output discarded; -1 when it cannot be started.
pid_t start_snare(const std::string& args) {
  const std::string cmd = "exec " + snare::testing::snare_bin() + " " + args;
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

/// As start_snare, with stderr (the progress log) written to `log`.
pid_t start_snare_logging(const std::string& args, const fs::path& log) {
  return start_snare(args + " 2> " + log.string());
}

/// Polls `ready` until it holds (true) or the process ends or 5 minutes pass (false).
template <class Ready>
bool wait_until(pid_t pid, Ready ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!ready()) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

/// Waits up to 5 minutes for the process to end, filling `status` (true); kills it when it does not (false).
bool wait_for_exit(pid_t pid, int& status) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

/// Hidden temporaries (".NAME.tmpPID") anywhere under `dir`.
std::vector<std::string> temporaries_under(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name[0] == '.' && name.find(".tmp") != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}

TEST(Resume, KilledAndResumedRunEndsLikeAnUninterruptedOne) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("resume");
  auto full = run_snare(kQuick + " -o " + (dir / "full.h5").string());
  ASSERT_EQ(full.exit_code, 0) << full.output;

  // Start the same run, kill it once it has checkpointed a few steps, then resume.
  pid_t pid = start_snare(kQuick + " -o " + (dir / "resumed.h5").string());
  ASSERT_GE(pid, 0);
  fs::path report = dir / "resumed_report";
  ASSERT_TRUE(wait_until(pid, [&] { return checkpoint_step(report) >= 4; })) << "run ended before it could be killed";
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
  // HDF5 files carry no write times, so the same model is the same file to the byte.
  EXPECT_TRUE(read_text(dir / "resumed.h5") == read_text(dir / "full.h5"));
  std::ifstream in(dir / "full_report" / "report.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_FALSE(j["versions"]["blas"].get<std::string>().empty());
  EXPECT_EQ(j["options"]["augment"], "scale=0.1,noise=0,shift=2");
  // The default confirmation split: 20% of the 2,000 samples, judged and explained in the report.
  EXPECT_EQ(j["tolerance"]["confirmation"]["samples"], 400);
  EXPECT_EQ(j["tolerance"]["rule"], "paired");
  EXPECT_FALSE(j["final"]["confirm_accuracy"].is_null());
  EXPECT_NE(j["tolerance"]["meaning"].get<std::string>().find("400 confirmation samples"), std::string::npos);
  // Where the time went: every phase recorded, and the disjoint ones fit in the wall time.
  const nlohmann::json& t = j["timing"];
  double disjoint = 0;
  for (const char* phase : {"loading", "baseline_training", "probing", "retraining", "validation", "checkpoints",
                            "finetuning", "final_evaluation", "output"}) {
    ASSERT_TRUE(t.contains(phase)) << phase;
    EXPECT_GE(t[phase].get<double>(), 0.0) << phase;
    disjoint += t[phase].get<double>();
  }
  EXPECT_GT(t["baseline_training"].get<double>(), 0.0);
  EXPECT_GT(t["retraining"].get<double>(), 0.0);
  EXPECT_LE(t["rolled_back"].get<double>(), t["probing"].get<double>() + t["retraining"].get<double>() +
                                                t["validation"].get<double>() + 1e-6);
  EXPECT_LE(disjoint, j["wall_seconds"].get<double>() + 1e-6);
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

// SIGTERM during the search stops it cleanly (saved, resumable) with 128 + 15; before the search it ends the
// process as usual, and the report folder it had made (still empty) and every temporary go with it.
TEST(Resume, SigtermStopsTheSearchWith143AndBeforeItLeavesNothingBehind) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("sigterm");
  pid_t pid = start_snare(kQuick + " -o " + (dir / "stopped.h5").string());
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(wait_until(pid, [&] { return checkpoint_step(dir / "stopped_report") >= 3; }));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the search stops cleanly";
  EXPECT_EQ(WEXITSTATUS(status), 143);
  EXPECT_TRUE(fs::exists(dir / "stopped_report" / "checkpoint.json"));
  EXPECT_TRUE(temporaries_under(dir).empty());

  // The full main job trains its baseline for a minute: a signal then finds only the empty report folder.
  pid = start_snare("reduce --arch lenet5 --data mnist -o " + (dir / "early.h5").string());
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(wait_until(pid, [&] { return fs::exists(dir / "early_report"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGTERM);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(fs::exists(dir / "early_report"));
  EXPECT_FALSE(fs::exists(dir / "early.h5"));
  EXPECT_TRUE(temporaries_under(dir).empty());
}

// A signal during a long retraining stops it within a batch: the step is discarded (its number too) and the run
// saves, where before it waited for the retraining to end. (The resumed run ending like an uninterrupted one is
// tests/search's SignalDuringTraining...; here a step's retraining would take many minutes.)
TEST(Resume, SigtermDuringARetrainingStopsItAndDiscardsTheStep) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("sigterm_retraining");
  const fs::path log = dir / "log.txt";
  pid_t pid = start_snare_logging(
      "reduce --arch lenet5 --data mnist --seed 3 --train-samples 2000 --baseline-epochs 1 --retrain-batches 200000 "
      "-o " + (dir / "stopped.h5").string(), log);
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(wait_until(pid, [&] { return read_text(log).find("step 1: ") != std::string::npos; }))
      << read_text(log);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_TRUE(wait_for_exit(pid, status)) << "the retraining did not stop within 5 minutes";
  ASSERT_TRUE(WIFEXITED(status)) << read_text(log);
  EXPECT_EQ(WEXITSTATUS(status), 143);
  const std::string said = read_text(log);
  EXPECT_NE(said.find("step 1: its retraining stopped by a signal and discarded"), std::string::npos) << said;
  std::ifstream in(dir / "stopped_report" / "checkpoint.json");
  const nlohmann::json state = nlohmann::json::parse(in)["state"];
  EXPECT_EQ(state["next_step"], 1);
  EXPECT_TRUE(state["history"].empty());
  EXPECT_EQ(state["stop_reason"], "interrupted");
  EXPECT_TRUE(temporaries_under(dir).empty());
}

const std::string kTiny =
    "reduce --train-samples 1000 --baseline-epochs 1 --retrain-batches 2 --finetune-epochs 1 --no-lowrank "
    "--budget-params 40000";

/// Copies a file over another (the test's way of editing a model or a checkpoint behind snare's back).
void replace_file(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

/// 61706 -> "61,706", as report.html prints counts.
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

fs::path checkpoint_model(const fs::path& report) {
  for (const auto& e : fs::directory_iterator(report)) {
    if (e.path().filename().string().rfind("checkpoint_step", 0) == 0) return e.path();
  }
  return {};
}

TEST(Resume, RefusesAnotherRunsCheckpointNamingEachDifference) {
  if (!snare::testing::have_mnist()) GTEST_SKIP() << "no MNIST";
  auto dir = snare::testing::scratch("resume_identity");
  const std::string data = "--data mnist:" + fs::absolute("data/mnist").string();
  const std::string bin = fs::absolute(snare::testing::snare_bin()).string();
  // A finished run of a built-in and one of a model file leave their checkpoints behind.
  const std::string arch_run = kTiny + " --arch lenet5 " + data + " --seed 3 --max-loss 5 -o " + (dir / "a.h5").string();
  auto first = run_snare(arch_run);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  {
    // The page is rendered from what this run wrote (not a hand-written sample): its counts, stop reason and the
    // tolerance sentence appear as the page prints them.
    const nlohmann::json j = nlohmann::json::parse(read_text(dir / "a_report" / "report.json"));
    const std::string html = read_text(dir / "a_report" / "report.html");
    EXPECT_NE(html.find(with_commas(j["baseline"]["params"].get<int64_t>())), std::string::npos);
    EXPECT_NE(html.find(with_commas(j["final"]["nonzero_params"].get<int64_t>())), std::string::npos);
    EXPECT_NE(html.find("stopped because"), std::string::npos);
    EXPECT_NE(html.find("id=\"tolerance\">" + j["tolerance"]["meaning"].get<std::string>().substr(0, 40)),
              std::string::npos);
  }
  const fs::path model = dir / "m.h5";
  replace_file(dir / "a_report" / "baseline.h5", model);
  const std::string file_run = kTiny + " " + data + " --seed 3 --max-loss 5 -o f.h5";
  auto second = snare::testing::run_shell("cd " + dir.string() + " && " + bin + " " + file_run + " " + model.string());
  ASSERT_EQ(second.exit_code, 0) << second.output;

  // The same files in another place are other data (the location is part of the identity).
  fs::copy("data/mnist", dir / "mnist_copy");
  struct Case {
    std::string args, expect;
  };
  const std::string arch_base = kTiny + " --arch lenet5 --resume -o " + (dir / "x.h5").string() + " --report " +
                                (dir / "a_report").string();
  for (const Case& c : {Case{arch_base + " " + data + " --seed 4 --max-loss 5", "--seed: 3 in the checkpoint, 4 now"},
                        Case{arch_base + " " + data + " --seed 3 --max-loss 4", "--max-loss: 5.0 in the checkpoint, 4.0 now"},
                        Case{arch_base + " " + data + " --seed 3 --max-loss 5 --scale raw",
                             "--scale: \"\" in the checkpoint, raw now"},
                        Case{arch_base + " --data mnist:" + (dir / "mnist_copy").string() + " --seed 3 --max-loss 5",
                             "--data: mnist from " + fs::canonical("data/mnist").string() + " in the checkpoint, mnist from " +
                                 (dir / "mnist_copy").string() + " now"}}) {
    auto r = run_snare(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("belongs to another run"), std::string::npos) << r.output;
  }
  // The same model file named by another path (relative, from its folder) is the same input; --time-limit may change.
  auto same = snare::testing::run_shell("cd " + dir.string() + " && " + bin + " " + file_run + " ./m.h5 --resume --time-limit 5");
  EXPECT_EQ(same.exit_code, 0) << same.output;
  // Another model saved at the same path is not.
  replace_file(dir / "a.h5", model);
  auto other = snare::testing::run_shell("cd " + dir.string() + " && " + bin + " " + file_run + " m.h5 --resume");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("input model content: fnv1a64:"), std::string::npos) << other.output;
  // A checkpoint model replaced behind snare's back is refused too, by name. The replacement is the unreduced
  // baseline: a.h5 would not do, since run f repeats run a's search from the same baseline and seed, so its
  // checkpoint can be a.h5 to the byte (the files differ only in HDF5's one-second object timestamps).
  replace_file(dir / "a_report" / "baseline.h5", model);
  const fs::path ckpt = checkpoint_model(dir / "f_report");
  ASSERT_FALSE(ckpt.empty());
  ASSERT_NE(read_text(model), read_text(ckpt));
  replace_file(model, ckpt);
  auto swapped = snare::testing::run_shell("cd " + dir.string() + " && " + bin + " " + file_run + " m.h5 --resume");
  EXPECT_EQ(swapped.exit_code, 2) << swapped.output;
  EXPECT_NE(swapped.output.find(ckpt.filename().string() + " in the report folder"), std::string::npos) << swapped.output;
  // Nothing was written by the refused resumes.
  EXPECT_FALSE(fs::exists(dir / "x.h5"));
}

}  // namespace
