// snare export MODEL -o OUT: converts between the formats snare reads and writes (.h5, .keras, .onnx).
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/common_options.h"
#include "io/model_file.h"

namespace snare::cli {

void register_export(CLI::App& app) {
  struct Options {
    ModelSource source;
    std::string output;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("export", "Write a model in another format (.h5, .keras, .onnx opset 13)");
  add_model_source(*cmd, o->source, true);
  cmd->add_option("-o,--output", o->output, "Output model file")->required();
  cmd->callback([o]() {
    check_output_path(o->output);
    ir::Graph g = load_source(o->source);
    io::save_model(g, o->output);
    fmt::print("saved {}\n", o->output);
  });
}

}  // namespace snare::cli
