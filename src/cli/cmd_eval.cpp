// snare eval MODEL --data NAME [--scale S] [--against OTHER] [--json]
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common_options.h"
#include "exec/network.h"
#include "exec/paired_test.h"
#include "io/model_file.h"

namespace snare::cli {

void register_eval(CLI::App& app) {
  struct Options {
    ModelSource source;
    DataOptions data;
    std::string device = "cpu";
    std::string against;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("eval", "Accuracy and loss of a model on a data set's test split");
  add_model_source(*cmd, o->source, false);
  add_data_options(*cmd, o->data, true);
  cmd->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--against", o->against,
                  "Also evaluate this model (e.g. the input of a reduction) on the same test samples and test "
                  "whether the accuracy difference is more than chance (exact McNemar)");
  cmd->add_flag("--json", o->json, "Print {\"accuracy\":x,\"loss\":y,\"samples\":n,\"per_class_accuracy\":[...]} (and \"against\":{...})");
  cmd->callback([o]() {
    ir::Graph g = load_source(o->source);
    data::Dataset d = load_data(o->data, g);
    exec::ExecOptions eo;
    eo.device = o->device;
    exec::EvalResult r = exec::evaluate(g, d.test, eo);
    nlohmann::json j = {{"accuracy", r.accuracy},
                        {"loss", r.loss},
                        {"samples", r.samples},
                        {"per_class_accuracy", r.per_class_accuracy}};
    if (!o->json) {
      fmt::print("{} on {} test ({} samples, scale {}): accuracy {:.4f}, loss {:.4f}\n", g.name, d.name, r.samples,
                 data::scale_name(d.scale), r.accuracy, r.loss);
    }
    if (!o->against.empty()) {
      // The other model is scaled as its own file records (unless --scale); the samples and their order match.
      ir::Graph other = io::load_model(o->against);
      exec::EvalResult ro = exec::evaluate(other, load_data(o->data, other).test, eo);
      exec::PairedComparison c = exec::compare_paired(r.correct, ro.correct);
      j["against"] = {{"model", o->against},
                      {"accuracy", ro.accuracy},
                      {"only_model_correct", c.only_a},
                      {"only_against_correct", c.only_b},
                      {"mcnemar_p", c.p_value}};
      if (!o->json) {
        fmt::print("{}: accuracy {:.4f}; samples only {} gets right: {}, only {}: {} (exact McNemar p = {:.3g})\n",
                   o->against, ro.accuracy, o->source.path, c.only_a, o->against, c.only_b, c.p_value);
      }
    }
    if (o->json) fmt::print("{}\n", j.dump());
  });
}

}  // namespace snare::cli
