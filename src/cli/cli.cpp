#include "cli/cli.h"

#include <fmt/format.h>

#include <exception>

#include "cli/commands.h"
#include "common/error.h"
#include "common/version.h"
#include "exec/network.h"

namespace snare::cli {

int run(int argc, char** argv) {
  CLI::App app{"snare — Score-based Neural Architecture REduction: makes trained networks small"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("snare ") + kVersion);
  register_analyze(app);
  register_train(app);
  register_eval(app);
  register_prune(app);
  register_factorize(app);
  register_reduce(app);
  register_export(app);
  try {
    // At the program's edge, before any work: data loading decodes and converts on all cores too.
    exec::configure_threads();
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(ExitCode::kUsage);
  } catch (const Error& e) {
    fmt::print(stderr, "snare: error: {}\n", e.what());
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    // A LibTorch check or std failure that escaped the library's own checks: a bug to report.
    fmt::print(stderr, "snare: internal error: {}\n", e.what());
    return static_cast<int>(ExitCode::kInternal);
  }
}

}  // namespace snare::cli
