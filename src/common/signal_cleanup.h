// What a run must not leave behind when a signal ends it: the temporary file being written, a report folder
// it made that is still empty. A signal handler may only call async-signal-safe functions, so the paths sit in
// fixed slots and the handler removes them with unlink/rmdir, then re-raises the signal with its default action:
// the process ends as any program killed by that signal does (a shell sees 128 + N: 130 for SIGINT, 143 for
// SIGTERM).
//
//   snare::remove_debris_on_signal();                        // once, at the program's edge (the CLI)
//   snare::RemoveOnSignal guard(tmp, snare::Debris::kFile);  // while tmp may exist
#pragma once

#include <string>

namespace snare {

enum class Debris {
  kFile,         ///< removed when a signal ends the process while the guard lives
  kEmptyFolder,  ///< removed, if still empty, when a signal ends the process or when the guard goes away
};

/// Registers `path` for removal while it lives. Paths longer than PATH_MAX or beyond the slots (64 at once)
/// are not registered: the guard then does nothing, as without a handler.
class RemoveOnSignal {
 public:
  RemoveOnSignal(const std::string& path, Debris kind);
  ~RemoveOnSignal();
  RemoveOnSignal(const RemoveOnSignal&) = delete;
  RemoveOnSignal& operator=(const RemoveOnSignal&) = delete;

 private:
  int slot_ = -1;
  std::string path_;
  Debris kind_;
};

/// Installs the removing handler for SIGINT, SIGTERM and SIGHUP. Code that handles a signal itself for a while
/// (snare reduce stops its search cleanly) puts `on_signal_remove_debris` back afterwards.
void remove_debris_on_signal();

extern "C" void on_signal_remove_debris(int sig);

}  // namespace snare
