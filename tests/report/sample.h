// A small but complete report in the schema of docs/report.md, for the report tests.
#pragma once

#include <nlohmann/json.hpp>

namespace snare::test {

inline nlohmann::json sample_report() {
  using nlohmann::json;
  json layer_b = json::array({
      {{"name", "conv2d"}, {"kind", "conv2d"}, {"units", 6}, {"params", 156}, {"nonzero_params", 150}, {"macs", 117600}},
      {{"name", "dense"}, {"kind", "dense"}, {"units", 120}, {"params", 48120}, {"nonzero_params", 48000}, {"macs", 48000}},
  });
  json layer_f = json::array({
      {{"name", "conv2d"}, {"kind", "conv2d"}, {"units", 4}, {"params", 104}, {"nonzero_params", 100}, {"macs", 78400}},
      {{"name", "dense"}, {"kind", "dense"}, {"units", 30}, {"params", 3030}, {"nonzero_params", 900}, {"macs", 3000}},
  });
  json step1 = {{"step", 1},
                {"op", "units"},
                {"target", "dense"},
                {"plan", "dense: keep 30 of 120 units"},
                {"scores", json::array({{{"target", "dense"}, {"op", "units"}, {"score", 1.2}, {"param_share", 0.78},
                                         {"mac_share", 0.29}, {"sensitivity", 0.004}, {"failures", 0}}})},
                {"params", 13000},
                {"nonzero_params", 12900},
                {"macs", 120000},
                {"val_accuracy", 0.988},
                {"seconds", 4.2},
                {"accepted", true},
                {"reason", "val accuracy 0.9880 >= 0.9861"}};
  json step2 = {{"step", 2},
                {"op", "mask"},
                {"target", "conv2d"},
                {"plan", "conv2d: mask 90% of weights"},
                {"params", 13000},
                {"nonzero_params", 2000},
                {"macs", 120000},
                {"val_accuracy", 0.95},
                {"seconds", 3.9},
                {"accepted", false},
                {"reason", "val accuracy 0.9500 < 0.9861"}};
  return {{"snare_version", "0.1.0"},
          {"created", "2026-11-28T08:10:00Z"},
          {"machine", "Test CPU, 2 cores, GPU: none"},
          {"versions", {{"libtorch", "1.13.0"}, {"snare", "0.1.0"}}},
          {"model", {{"name", "lenet5"}, {"input", "arch:lenet5"}, {"output", "out.h5"}}},
          {"data", "mnist"},
          {"seed", 1},
          {"options", {{"max_loss", 0.39}, {"budget_params", nullptr}, {"retrain_batches", 200}}},
          {"baseline",
           {{"params", 61706}, {"nonzero_params", 61470}, {"macs", 416520}, {"val_accuracy", 0.99},
            {"confirm_accuracy", 0.991}, {"test_accuracy", 0.989}, {"layers", layer_b}}},
          {"final",
           {{"params", 3134}, {"nonzero_params", 1000}, {"macs", 81400}, {"val_accuracy", 0.987},
            {"confirm_accuracy", 0.9885}, {"test_accuracy", 0.986}, {"layers", layer_f}}},
          {"tolerance",
           {{"max_loss_pp", 0.39}, {"margin_se", 1}, {"rule", "paired"}, {"last_accepted_step", 2},
            {"returned_step", 1}, {"walked_back", true},
            {"meaning", "On 6000 confirmation samples that no decision of the search saw, the reduced model loses 0.30 "
                        "points <of> the input model."}}},
          {"test_comparison", {{"baseline_only_correct", 60}, {"final_only_correct", 30}, {"mcnemar_p", 0.0021}}},
          {"steps", json::array({step1, step2})},
          {"stop_reason", "no reducible part left"},
          {"wall_seconds", 812.5}};
}

}  // namespace snare::test
