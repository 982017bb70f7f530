// ProgressSink: the library never prints. Long operations report through a sink the caller passes.
#pragma once

#include <cstdint>
#include <string>

namespace snare {

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  /// A named task of `total` steps begins (e.g. "epoch 3/10", 469 batches).
  virtual void begin(const std::string& /*task*/, int64_t /*total*/) {}
  /// `done` of `total` steps finished; `status` is a short free text (e.g. "loss 0.123").
  virtual void update(int64_t /*done*/, const std::string& /*status*/) {}
  /// The task ended; `summary` is one line worth keeping in a log.
  virtual void end(const std::string& /*summary*/) {}
  /// A message worth a line of its own.
  virtual void log(const std::string& /*line*/) {}
};

/// Discards everything; the default where no sink is given.
ProgressSink& null_progress();

}  // namespace snare
