#include "cli/cli.h"

#include <fmt/format.h>
#include <torch/version.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "cli/flag_names.h"
#include "common/error.h"
#include "common/memory_limit.h"
#include "common/signal_cleanup.h"
#include "common/version.h"
#include "exec/blas_kernels.h"
#include "exec/network.h"
#include "pipeline/run_report.h"

namespace snare::cli {

namespace {

/// $SNARE_THREADS (a whole number >= 1), else 0 for every core. It lets two runs share a machine without
/// oversubscribing OpenMP, which thrashes.
int threads_from_environment() {
  const char* env = std::getenv("SNARE_THREADS");
  if (env == nullptr || *env == '\0') return 0;
  const std::string text = env;
  const bool digits = text.size() <= 4 && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoi(text) < 1) {
    throw UsageError(fmt::format("SNARE_THREADS: expected a whole number from 1 to 9999, got '{}'", text));
  }
  return std::stoi(text);
}

/// `snare --version`: snare's version, the LibTorch and BLAS it runs on, and the machine, as report.json records them.
std::string version_text() {
  return fmt::format("snare {}\nLibTorch {}\nBLAS: {}\nmachine: {}", kVersion, TORCH_VERSION,
                     exec::blas_kernels().describe(), pipeline::machine_description());
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"snare — Score-based Neural Architecture REduction: makes trained networks small"};
  app.require_subcommand(1);
  // Called after set_threads below (the BLAS kernels are chosen by then): what a bug report needs.
  app.set_version_flag("--version", version_text);
  app.fallthrough();  // before the subcommands are made: each inherits it
  register_analyze(app);
  register_train(app);
  register_eval(app);
  register_prune(app);
  register_factorize(app);
  register_reduce(app);
  register_export(app);
  register_launch(app);
  // Options of the program as a whole follow the subcommand too (`snare analyze m.h5 --max-memory 2G`).
  app.add_option_function<std::string>(
      "--max-memory",
      [](const std::string& text) {
        const uint64_t bytes = parse_size(text);
        if (bytes == 0) {
          throw UsageError(fmt::format("--max-memory: expected a size such as 512M, 4G or a number of bytes, got '{}'",
                                       text));
        }
        set_memory_limit(bytes);
      },
      "Refuse files that declare more than this much data (weights, zip entries) before reading them, e.g. 4G "
      "(default: half of this machine's memory)");
  try {
    // At the program's edge, before any work: data loading decodes and converts on all cores too.
    exec::set_threads(threads_from_environment());
    remove_debris_on_signal();
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(ExitCode::kUsage);
  } catch (const Error& e) {
    fmt::print(stderr, "snare: error: {}\n", in_flag_terms(e.what()));
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    // A LibTorch check or std failure that escaped the library's own checks: a bug to report.
    fmt::print(stderr, "snare: internal error: {}\n", e.what());
    return static_cast<int>(ExitCode::kInternal);
  }
}

}  // namespace snare::cli
