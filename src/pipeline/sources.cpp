#include "pipeline/sources.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "arch/zoo.h"
#include "common/error.h"
#include "data/registry.h"
#include "io/model_file.h"

namespace snare::pipeline {

namespace {

/// "28x28" -> {28, 28}.
std::pair<int64_t, int64_t> parse_resize(const std::string& text) {
  int64_t h = 0, w = 0;
  char x = 0, rest = 0;
  if (std::sscanf(text.c_str(), "%ld%c%ld%c", &h, &x, &w, &rest) != 3 || (x != 'x' && x != 'X') || h <= 0 || w <= 0) {
    throw OptionError("DataOptions::resize", fmt::format("expected HxW with positive numbers (e.g. 28x28), got '{}'", text));
  }
  return {h, w};
}

data::Scale data_scale(ir::InputScaling::Scale s) {
  switch (s) {
    case ir::InputScaling::Scale::kUnit: return data::Scale::kUnit;
    case ir::InputScaling::Scale::kStandard: return data::Scale::kStandard;
    case ir::InputScaling::Scale::kRaw:
    case ir::InputScaling::Scale::kUnstated: return data::Scale::kRaw;
  }
  return data::Scale::kRaw;
}

ir::InputScaling::Scale model_scale(data::Scale s) {
  switch (s) {
    case data::Scale::kRaw: return ir::InputScaling::Scale::kRaw;
    case data::Scale::kUnit: return ir::InputScaling::Scale::kUnit;
    case data::Scale::kStandard: return ir::InputScaling::Scale::kStandard;
  }
  return ir::InputScaling::Scale::kRaw;
}

/// What the model expects of the data: its input shape and, for a classifier, its number of classes.
void describe_model(const ir::Graph& model, data::LoadOptions& lo) {
  lo.input_shape = model.input_shape();
  const ir::Shape& out = model.output_shape();
  if (out.size() == 1 && out[0] > 1) lo.num_classes = out[0];
}

}  // namespace

ir::Graph load_source(const ModelSource& source) {
  if (!source.path.empty() && !source.arch.empty()) {
    throw OptionError("ModelSource::arch", "give either ModelSource::path or ModelSource::arch, not both");
  }
  if (!source.arch.empty()) return arch::build(source.arch, source.seed);
  if (source.path.empty()) throw OptionError("ModelSource::path", "no model: give a model file or ModelSource::arch");
  return io::load_model(source.path);
}

data::Dataset load_data(const DataOptions& options, const ir::Graph& model, ir::Graph* record_into) {
  data::LoadOptions lo;
  const ir::InputScaling& recorded = model.input_scaling;
  if (!options.scale.empty()) {
    lo.scale = data::scale_from_name(options.scale, "DataOptions::scale");
  } else if (!options.mean.empty() || !options.stddev.empty()) {
    lo.scale = data::Scale::kStandard;
  } else if (recorded.scale != ir::InputScaling::Scale::kUnstated) {
    lo.scale = data_scale(recorded.scale);
  }
  if (options.mean.empty() != options.stddev.empty()) {
    throw OptionError("DataOptions::mean", "DataOptions::mean and DataOptions::stddev go together");
  }
  if (!options.mean.empty()) {
    if (lo.scale != data::Scale::kStandard) throw OptionError("DataOptions::mean", "needs DataOptions::scale standard");
    lo.mean = options.mean;
    lo.stddev = options.stddev;
  } else if (lo.scale == data::Scale::kStandard && !recorded.mean.empty() && !recorded.stddev.empty()) {
    // Standardisation statistics recorded with the model are the ones it was trained with.
    lo.mean = recorded.mean;
    lo.stddev = recorded.stddev;
  }
  describe_model(model, lo);
  if (!options.layout.empty()) lo.layout = data::layout_from_name(options.layout, "DataOptions::layout");
  lo.label_column = options.label_column;
  lo.group_column = options.group_column;
  if (options.test_split != 0 && !(options.test_split > 0 && options.test_split < 1)) {
    throw OptionError("DataOptions::test_split", fmt::format("must be in (0,1), got {}", options.test_split));
  }
  lo.test_split = options.test_split;
  if (!options.resize.empty()) std::tie(lo.resize_height, lo.resize_width) = parse_resize(options.resize);
  for (const std::string& a : options.arrays) {
    auto eq = a.find('=');
    static const std::vector<std::string> kRoles = {"x_train", "y_train", "x_test", "y_test", "x_val", "y_val",
                                                    "groups_train"};
    if (eq == std::string::npos || std::find(kRoles.begin(), kRoles.end(), a.substr(0, eq)) == kRoles.end() ||
        eq + 1 == a.size()) {
      throw OptionError("DataOptions::arrays",
                        fmt::format("expected ROLE=NAME with ROLE one of {}, got '{}'", fmt::join(kRoles, ", "), a));
    }
    lo.array_names[a.substr(0, eq)] = a.substr(eq + 1);
  }
  data::Dataset d = data::load_dataset(options.spec, lo);
  if (record_into) {
    ir::InputScaling used;
    used.scale = model_scale(d.scale);
    if (d.scale == data::Scale::kStandard) {
      used.mean = d.mean;
      used.stddev = d.stddev;
    }
    record_into->input_scaling = used;
    record_into->trained_on = d.name;
    record_into->class_names = d.class_names;
  }
  return d;
}

void check_output_path(const std::string& path) {
  io::format_of(path);
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    throw OutputError(fmt::format("cannot write '{}': directory '{}' does not exist", path, parent.string()));
  }
}

}  // namespace snare::pipeline
