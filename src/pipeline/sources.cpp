#include "pipeline/sources.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include <nlohmann/json.hpp>

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
    throw UsageError(fmt::format("--resize: expected HxW with positive numbers (e.g. 28x28), got '{}'", text));
  }
  return {h, w};
}

/// What the model expects of the data: its input shape and, for a classifier, its number of classes.
void describe_model(const ir::Graph& model, data::LoadOptions& lo) {
  lo.input_shape = model.input_shape();
  const ir::Shape& out = model.output_shape();
  if (out.size() == 1 && out[0] > 1) lo.num_classes = out[0];
}

}  // namespace

ir::Graph load_source(const ModelSource& source) {
  if (!source.path.empty() && !source.arch.empty()) throw UsageError("give either MODEL or --arch, not both");
  if (!source.arch.empty()) return arch::build(source.arch, source.seed);
  if (source.path.empty()) throw UsageError("no model: give a model file or --arch NAME");
  return io::load_model(source.path);
}

data::Dataset load_data(const DataOptions& options, const ir::Graph& model, ir::Graph* record_into) {
  data::LoadOptions lo;
  auto meta = model.meta.find("snare.scale");
  if (!options.scale.empty()) {
    lo.scale = data::scale_from_name(options.scale);
  } else if (!options.mean.empty() || !options.stddev.empty()) {
    lo.scale = data::Scale::kStandard;
  } else if (meta != model.meta.end()) {
    lo.scale = data::scale_from_name(meta->second, "scale recorded in the model");
  }
  if (options.mean.empty() != options.stddev.empty()) throw UsageError("--mean and --std go together");
  if (!options.mean.empty()) {
    if (lo.scale != data::Scale::kStandard) throw UsageError("--mean/--std need --scale standard");
    lo.mean = options.mean;
    lo.stddev = options.stddev;
  } else if (lo.scale == data::Scale::kStandard && model.meta.count("snare.mean") && model.meta.count("snare.stddev")) {
    // Standardisation statistics recorded with the model are the ones it was trained with.
    lo.mean = nlohmann::json::parse(model.meta.at("snare.mean")).get<std::vector<double>>();
    lo.stddev = nlohmann::json::parse(model.meta.at("snare.stddev")).get<std::vector<double>>();
  }
  describe_model(model, lo);
  if (!options.layout.empty()) lo.layout = data::layout_from_name(options.layout);
  lo.label_column = options.label_column;
  lo.group_column = options.group_column;
  if (options.test_split != 0 && !(options.test_split > 0 && options.test_split < 1)) {
    throw UsageError(fmt::format("--test-split: must be in (0,1), got {}", options.test_split));
  }
  lo.test_split = options.test_split;
  if (!options.resize.empty()) std::tie(lo.resize_height, lo.resize_width) = parse_resize(options.resize);
  for (const std::string& a : options.arrays) {
    auto eq = a.find('=');
    static const std::vector<std::string> kRoles = {"x_train", "y_train", "x_test", "y_test", "x_val", "y_val",
                                                    "groups_train"};
    if (eq == std::string::npos || std::find(kRoles.begin(), kRoles.end(), a.substr(0, eq)) == kRoles.end() ||
        eq + 1 == a.size()) {
      throw UsageError(fmt::format("--arrays: expected ROLE=NAME with ROLE one of {}, got '{}'",
                                   fmt::join(kRoles, ", "), a));
    }
    lo.array_names[a.substr(0, eq)] = a.substr(eq + 1);
  }
  data::Dataset d = data::load_dataset(options.spec, lo);
  if (record_into) {
    record_into->meta["snare.scale"] = data::scale_name(d.scale);
    record_into->meta["snare.data"] = d.name;
    if (d.scale == data::Scale::kStandard) {
      record_into->meta["snare.mean"] = nlohmann::json(d.mean).dump();
      record_into->meta["snare.stddev"] = nlohmann::json(d.stddev).dump();
    }
    record_into->meta["snare.class_names"] = nlohmann::json(d.class_names).dump();
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
