// snare analyze (MODEL | --arch NAME) [--json]
#include <fmt/format.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "io/facts.h"

namespace snare::cli {

void register_analyze(CLI::App& app) {
  struct Options {
    ModelSource source;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "analyze",
      "Per-layer parameters, non-zero parameters, MACs and shares. One MAC per multiply-add in Dense, Conv "
      "and recurrent layers (per time step and direction G*U*(in+U), G = 4 LSTM, 3 GRU, 1 SimpleRNN); pooling, activations, BatchNorm and Add count 0; FLOPs = 2 x MACs.");
  add_model_source(*cmd, o->source, true);
  cmd->add_flag("--json", o->json, "Print one JSON object {layers:[...], total:{params,nonzero_params,macs,flops}}");
  cmd->callback([o]() {
    ir::Graph g = load_source(o->source);
    analysis::ModelStats s = analysis::analyze(g);
    if (o->json) {
      fmt::print("{}\n", analysis::stats_json(s).dump());
    } else {
      fmt::print("model: {}\n{}", g.name, analysis::stats_table(s));
      // What the ONNX reader folded around the layers (docs/onnx.md): the data the model expects.
      if (g.meta.count("onnx.preprocess") || g.meta.count("onnx.dropped_tail")) {
        std::map<std::string, std::string> shown = io::fact_entries(g);
        shown.insert(g.meta.begin(), g.meta.end());
        for (const char* key : {"onnx.input_type", "onnx.preprocess", "onnx.preprocess_into", "snare.scale", "snare.mean",
                                "snare.stddev", "onnx.dropped_tail"}) {
          if (shown.count(key)) fmt::print("{}: {}\n", key, shown.at(key));
        }
      }
    }
  });
}

}  // namespace snare::cli
