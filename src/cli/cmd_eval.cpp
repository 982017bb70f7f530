// snare eval MODEL --data NAME [--scale S] [--json]
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common_options.h"
#include "exec/network.h"

namespace snare::cli {

void register_eval(CLI::App& app) {
  struct Options {
    ModelSource source;
    DataOptions data;
    std::string device = "cpu";
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("eval", "Accuracy and loss of a model on a data set's test split");
  add_model_source(*cmd, o->source, false);
  add_data_options(*cmd, o->data, true);
  cmd->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print {\"accuracy\":x,\"loss\":y,\"samples\":n,\"per_class_accuracy\":[...]}");
  cmd->callback([o]() {
    ir::Graph g = load_source(o->source);
    data::Dataset d = load_data(o->data, g);
    exec::ExecOptions eo;
    eo.device = o->device;
    exec::EvalResult r = exec::evaluate(g, d.test, eo);
    if (o->json) {
      nlohmann::json j = {{"accuracy", r.accuracy},
                          {"loss", r.loss},
                          {"samples", r.samples},
                          {"per_class_accuracy", r.per_class_accuracy}};
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("{} on {} test ({} samples, scale {}): accuracy {:.4f}, loss {:.4f}\n", g.name, d.name, r.samples,
                 data::scale_name(d.scale), r.accuracy, r.loss);
    }
  });
}

}  // namespace snare::cli
