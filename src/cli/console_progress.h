// ConsoleProgress: the CLI's ProgressSink. On a terminal (stdout is a tty) it redraws one progress
// line with a bar and ETA on stderr; otherwise it prints only the end-of-task lines, so logs stay
// readable. Never writes to stdout (which carries --json output).
#pragma once

#include <chrono>
#include <string>

#include "common/progress.h"

namespace snare::cli {

class ConsoleProgress : public ProgressSink {
 public:
  ConsoleProgress();
  void begin(const std::string& task, int64_t total) override;
  void update(int64_t done, const std::string& status) override;
  void end(const std::string& summary) override;
  void log(const std::string& line) override;

 private:
  bool tty_;
  std::string task_;
  int64_t total_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace snare::cli
