#include "common/signal_cleanup.h"

#include <unistd.h>

#include <atomic>
#include <climits>
#include <csignal>
#include <cstring>

namespace snare {

namespace {

/// One registered path. `state`: 0 free, 1 being filled or emptied by its owner, 2 live (the handler may read it).
struct Slot {
  std::atomic<int> state{0};
  Debris kind = Debris::kFile;
  char path[PATH_MAX] = {};
};

constexpr int kSlots = 64;
Slot g_slots[kSlots];

}  // namespace

RemoveOnSignal::RemoveOnSignal(const std::string& path, Debris kind) : path_(path), kind_(kind) {
  if (path.size() >= PATH_MAX) return;
  for (int i = 0; i < kSlots; ++i) {
    int free = 0;
    if (!g_slots[i].state.compare_exchange_strong(free, 1)) continue;
    g_slots[i].kind = kind;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(2);
    slot_ = i;
    return;
  }
}

RemoveOnSignal::~RemoveOnSignal() {
  if (slot_ >= 0) g_slots[slot_].state.store(0);
  // A folder this run made and left empty (an early error) goes too; rmdir leaves a folder with content alone.
  if (kind_ == Debris::kEmptyFolder) ::rmdir(path_.c_str());
}

extern "C" void on_signal_remove_debris(int sig) {
  // Files first, so that a folder they emptied can go too.
  for (Debris kind : {Debris::kFile, Debris::kEmptyFolder}) {
    for (Slot& s : g_slots) {
      if (s.state.load() != 2 || s.kind != kind) continue;
      if (kind == Debris::kFile) {
        ::unlink(s.path);
      } else {
        ::rmdir(s.path);
      }
    }
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void remove_debris_on_signal() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_signal_remove_debris);
}

}  // namespace snare
