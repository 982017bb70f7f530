// snare::Error and its kinds: the only way the library reports a problem.
//
// Library code throws; only the CLI catches, prints `what()` and exits with `exit_code()`.
// Expected outcomes (a rejected reduction step) are values, never exceptions.
//
//   throw snare::InputError(fmt::format("{}: expected IDX magic 2051, got {}", path, magic));
#pragma once

#include <stdexcept>
#include <string>

namespace snare {

/// Documented process exit codes (docs/cli.md). Values are part of the CLI contract.
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,     ///< a bug in snare
  kUsage = 2,        ///< bad flags or flag values
  kModel = 3,        ///< model file missing, corrupt, inconsistent
  kUnsupported = 4,  ///< model uses layers/ops snare does not support
  kData = 5,         ///< data set missing, corrupt, mismatched
  kOutput = 6,       ///< output could not be written
  kDistributed = 7,  ///< a distributed run failed: a rank died, hung, was unreachable or runs something else
  kInterrupted = 130, ///< stopped by Ctrl-C (SIGINT; 128 + 2) after saving
  kTerminated = 143,  ///< stopped by SIGTERM (128 + 15) after saving
};

/// Base of every error snare throws on purpose.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode exit_code() const { return code_; }

 private:
  ExitCode code_;
};

/// A bad command line (the CLI's own checks). The library never throws it: see OptionError.
struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::kUsage, m) {}
};
/// An option out of its legal range, named as the library spells it: "SearchOptions::max_loss_pp: must be >= 0,
/// got -1". Exit code 2, like a bad flag; the CLI rewrites field names into its flags (cli/flag_names.cpp).
class OptionError : public Error {
 public:
  OptionError(const std::string& field, const std::string& problem)
      : Error(ExitCode::kUsage, field + ": " + problem), field_(field) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};
struct ModelError : Error {
  explicit ModelError(const std::string& m) : Error(ExitCode::kModel, m) {}
};
struct UnsupportedError : Error {
  explicit UnsupportedError(const std::string& m) : Error(ExitCode::kUnsupported, m) {}
};
struct DataError : Error {
  explicit DataError(const std::string& m) : Error(ExitCode::kData, m) {}
};
struct OutputError : Error {
  explicit OutputError(const std::string& m) : Error(ExitCode::kOutput, m) {}
};
/// A distributed run that cannot go on (docs/distributed.md): another rank died or hung beyond the timeout, the
/// rendezvous failed, or the ranks run other versions, models or options.
struct DistError : Error {
  explicit DistError(const std::string& m) : Error(ExitCode::kDistributed, m) {}
};
/// A broken invariant inside snare (not the user's fault).
struct InternalError : Error {
  explicit InternalError(const std::string& m) : Error(ExitCode::kInternal, m) {}
};

}  // namespace snare
