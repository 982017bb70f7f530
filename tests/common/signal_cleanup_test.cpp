// A signal that ends the process removes the registered debris and ends it with the signal's default action.
// Each case runs in a forked child, which is what the signal kills.
#include "common/signal_cleanup.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"

namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("snare_signal_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// Runs `child` in a forked process and returns its wait status.
template <class F>
int in_child(F child) {
  pid_t pid = ::fork();
  if (pid == 0) {
    child();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(SignalCleanup, TermRemovesTheTemporaryAndAnEmptyFolderAndEndsByTheSignal) {
  const fs::path dir = scratch("term");
  const fs::path report = dir / "report", tmp = dir / ".out.h5.tmp1", kept = dir / "out.h5";
  std::ofstream(kept) << "finished output";
  const int status = in_child([&] {
    snare::remove_debris_on_signal();
    fs::create_directories(report);
    snare::RemoveOnSignal folder(report.string(), snare::Debris::kEmptyFolder);
    std::ofstream(tmp) << "half a model";
    snare::RemoveOnSignal file(tmp.string(), snare::Debris::kFile);
    std::raise(SIGTERM);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_FALSE(fs::exists(report));
  EXPECT_TRUE(fs::exists(kept)) << "only registered paths go";
}

TEST(SignalCleanup, AFolderWithContentStaysAndAReleasedPathIsLeftAlone) {
  const fs::path dir = scratch("content");
  const fs::path report = dir / "report", done = dir / "done.txt";
  const int status = in_child([&] {
    snare::remove_debris_on_signal();
    fs::create_directories(report);
    std::ofstream(report / "baseline.h5") << "written";
    snare::RemoveOnSignal folder(report.string(), snare::Debris::kEmptyFolder);
    {
      std::ofstream(done) << "renamed into place";
      snare::RemoveOnSignal file(done.string(), snare::Debris::kFile);
    }  // released: the write finished
    std::raise(SIGINT);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGINT);
  EXPECT_TRUE(fs::exists(report / "baseline.h5"));
  EXPECT_TRUE(fs::exists(done));
}

TEST(SignalCleanup, AnEmptyFolderGoesWhenItsGuardDoes) {
  const fs::path dir = scratch("guard");
  fs::create_directories(dir / "empty");
  fs::create_directories(dir / "full");
  std::ofstream(dir / "full" / "report.json") << "{}";
  { snare::RemoveOnSignal a((dir / "empty").string(), snare::Debris::kEmptyFolder); }
  { snare::RemoveOnSignal b((dir / "full").string(), snare::Debris::kEmptyFolder); }
  EXPECT_FALSE(fs::exists(dir / "empty"));
  EXPECT_TRUE(fs::exists(dir / "full" / "report.json"));
}

TEST(SignalCleanup, TheNextWriteRemovesTemporariesOfWritersThatNoLongerRun) {
  const fs::path dir = scratch("stale");
  const fs::path target = dir / "model.h5";
  // A pid that surely ran and ended: a child we waited for.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const fs::path stale = dir / (".model.h5.tmp" + std::to_string(dead));
  const fs::path live = dir / (".model.h5.tmp" + std::to_string(::getppid()));  // a writer still running
  const fs::path other = dir / (".other.h5.tmp" + std::to_string(dead));      // another target's
  for (const fs::path& p : {stale, live, other}) std::ofstream(p) << "partial";
  snare::write_text_atomically(target.string(), "new");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  std::ifstream in(target);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "new");
}

}  // namespace
