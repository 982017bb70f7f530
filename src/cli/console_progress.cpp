#include "cli/console_progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "cli/flag_names.h"

namespace snare::cli {

ConsoleProgress::ConsoleProgress() : tty_(::isatty(STDOUT_FILENO) != 0) {}

void ConsoleProgress::begin(const std::string& task, int64_t total) {
  task_ = task;
  total_ = total;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = start_ - std::chrono::seconds(1);
  drawn_ = false;
}

void ConsoleProgress::update(int64_t done, const std::string& status) {
  if (!tty_ || total_ <= 0) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(kWidth * done / total_);
  fmt::print(stderr, "\r{} [{}{}] {}/{} ETA {:.0f}s {}\033[K", task_, std::string(static_cast<size_t>(filled), '#'),
             std::string(static_cast<size_t>(kWidth - filled), '.'), done, total_, eta, status);
  std::fflush(stderr);
  drawn_ = true;
}

void ConsoleProgress::end(const std::string& summary) {
  if (drawn_) fmt::print(stderr, "\r\033[K");
  drawn_ = false;
  if (!summary.empty()) fmt::print(stderr, "{}\n", summary);
}

void ConsoleProgress::log(const std::string& line) {
  if (drawn_) fmt::print(stderr, "\r\033[K");
  drawn_ = false;
  fmt::print(stderr, "{}\n", in_flag_terms(line));
}

}  // namespace snare::cli
