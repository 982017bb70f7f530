// Each subcommand registers itself on the top-level app; its options live as long as the app.
#pragma once

#include <CLI/CLI.hpp>

namespace snare::cli {

void register_analyze(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_prune(CLI::App& app);
void register_factorize(CLI::App& app);
void register_reduce(CLI::App& app);
void register_export(CLI::App& app);
void register_launch(CLI::App& app);

}  // namespace snare::cli
