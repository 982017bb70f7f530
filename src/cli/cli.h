// snare's command line: subcommands, argument parsing (CLI11), the only catch-all, exit codes.
#pragma once

namespace snare::cli {

/// Runs the command line; returns the process exit code (docs/cli.md).
int run(int argc, char** argv);

}  // namespace snare::cli
