// The library names options by field; the CLI maps every field to its flag in one table (cli/flag_names.cpp).
// These tests keep the table honest: each flag exists, and each field the library names in an identity or an
// error has a flag.
#include "cli/flag_names.h"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "pipeline/checkpoint.h"
#include "pipeline/reduce.h"

namespace {

using snare::cli::flag_for_field;
using snare::cli::in_flag_terms;

/// The top-level app with every subcommand registered, as snare builds it.
CLI::App& snare_app() {
  static CLI::App app{"snare"};
  static bool registered = false;
  if (!registered) {
    snare::cli::register_analyze(app);
    snare::cli::register_train(app);
    snare::cli::register_eval(app);
    snare::cli::register_prune(app);
    snare::cli::register_factorize(app);
    snare::cli::register_reduce(app);
    snare::cli::register_export(app);
    registered = true;
  }
  return app;
}

bool some_command_has(const std::string& flag) {
  for (const CLI::App* sub : snare_app().get_subcommands({})) {
    if (sub->get_option_no_throw(flag) != nullptr) return true;
  }
  return false;
}

TEST(FlagNames, EveryFlagInTheTableIsOneSnareTakes) {
  for (const auto& [field, flag] : snare::cli::field_flags()) {
    if (flag.rfind("-", 0) != 0) continue;  // MODEL, "the reduction asked for": not flags
    std::istringstream alternatives(flag);
    for (std::string one; std::getline(alternatives, one, '/');) {
      EXPECT_TRUE(some_command_has(one)) << field << " -> " << one;
    }
  }
}

TEST(FlagNames, MessagesReadInFlagTerms) {
  EXPECT_EQ(in_flag_terms("SearchOptions::max_loss_pp: must be a finite number >= 0, got -1"),
            "--max-loss: must be a finite number >= 0, got -1");
  EXPECT_EQ(in_flag_terms("ReduceOptions::confirm_split: must leave data beside ReduceOptions::val_split 0.5"),
            "--confirm-split: must leave data beside --val-split 0.5");
  EXPECT_EQ(in_flag_terms("SearchOptions::confirm_margin_se and SearchOptions::margin_se"), "--confirm-margin and --margin");
  EXPECT_EQ(in_flag_terms("model file name: m.txt: unknown model format"), "model file name: m.txt: unknown model format");
}

// What the library throws for a bad option reaches the user as the flag they typed.
TEST(FlagNames, ReduceOptionErrorsNameAFlag) {
  snare::pipeline::ReduceOptions o;
  o.source.arch = "lenet5";
  o.data.spec = "mnist";
  o.output = "/tmp/never_written.h5";
  o.search.max_loss_pp = std::nan("");
  try {
    snare::pipeline::reduce(o, {});
    ADD_FAILURE() << "accepted a NaN max loss";
  } catch (const snare::OptionError& e) {
    EXPECT_EQ(e.field(), "SearchOptions::max_loss_pp");
    EXPECT_EQ(in_flag_terms(e.what()).rfind("--max-loss: ", 0), 0u) << in_flag_terms(e.what());
  }
}

// Every option a checkpoint's identity names is shown to a CLI user as a flag.
TEST(FlagNames, EveryIdentityFieldHasAFlag) {
  snare::pipeline::ReduceOptions o;
  o.source.arch = "lenet5";
  snare::data::Dataset d;
  d.name = "mnist";
  d.source = "data/mnist";
  const std::string baseline = testing::TempDir() + "flag_names_baseline.h5";
  std::ofstream(baseline) << "stands for a baseline file: only its fingerprint is taken";
  const nlohmann::json id = snare::pipeline::run_identity(o, d, baseline);
  int fields = 0;
  for (const auto& item : id.items()) {
    if (item.key().find("::") == std::string::npos) continue;  // "snare version", "data samples", ...
    ++fields;
    EXPECT_FALSE(flag_for_field(item.key()).empty()) << item.key();
  }
  EXPECT_GT(fields, 30);
}

}  // namespace
