#include "cli/common_options.h"

#include <fmt/format.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "arch/zoo.h"
#include "common/error.h"
#include "data/registry.h"
#include "io/model_file.h"

namespace snare::cli {

void add_model_source(CLI::App& cmd, ModelSource& source, bool allow_arch) {
  cmd.add_option("model", source.path, "Model file (.h5, .keras, .onnx)");
  if (allow_arch) {
    std::string names;
    for (const arch::ArchInfo& a : arch::architectures()) names += std::string(names.empty() ? "" : ", ") + a.name;
    cmd.add_option("--arch", source.arch, "Built-in architecture instead of a file: " + names);
    cmd.add_option("--seed", source.seed, "Random seed (weights, shuffling, dropout)")->capture_default_str();
  }
}

void add_data_options(CLI::App& cmd, DataOptions& options, bool required) {
  std::string kinds;
  for (const data::DatasetKind& k : data::dataset_kinds()) kinds += std::string(kinds.empty() ? "" : ", ") + k.name;
  auto* opt = cmd.add_option("--data", options.spec,
                             "Data set: " + kinds + " (NAME:PATH for another location), or a folder of IDX files");
  if (required) opt->required();
  cmd.add_option("--scale", options.scale,
                 "Input scaling: raw (as stored), unit (/255), standard (per-channel training mean/std); "
                 "default: the model's recorded scale, else the data set's");
}

ir::Graph load_source(const ModelSource& source) {
  if (!source.path.empty() && !source.arch.empty()) throw UsageError("give either MODEL or --arch, not both");
  if (!source.arch.empty()) return arch::build(source.arch, source.seed);
  if (source.path.empty()) throw UsageError("no model: give a model file or --arch NAME");
  return io::load_model(source.path);
}

data::Dataset load_data(const DataOptions& options, const ir::Graph& model, ir::Graph* record_into) {
  data::LoadOptions lo;
  std::string kind = options.spec.substr(0, options.spec.find(':'));
  lo.scale = data::Scale::kUnit;
  for (const data::DatasetKind& k : data::dataset_kinds()) {
    if (kind == k.name) lo.scale = k.default_scale;
  }
  auto meta = model.meta.find("snare.scale");
  if (!options.scale.empty()) {
    lo.scale = data::scale_from_name(options.scale);
  } else if (meta != model.meta.end()) {
    lo.scale = data::scale_from_name(meta->second, "scale recorded in the model");
  }
  // Standardisation statistics recorded with the model are the ones it was trained with.
  if (lo.scale == data::Scale::kStandard && model.meta.count("snare.mean") && model.meta.count("snare.stddev")) {
    lo.mean = nlohmann::json::parse(model.meta.at("snare.mean")).get<std::vector<double>>();
    lo.stddev = nlohmann::json::parse(model.meta.at("snare.stddev")).get<std::vector<double>>();
  }
  data::Dataset d = data::load_dataset(options.spec, lo);
  if (record_into) {
    record_into->meta["snare.scale"] = data::scale_name(d.scale);
    record_into->meta["snare.data"] = d.name;
    if (d.scale == data::Scale::kStandard) {
      record_into->meta["snare.mean"] = nlohmann::json(d.mean).dump();
      record_into->meta["snare.stddev"] = nlohmann::json(d.stddev).dump();
    }
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

void add_augment_option(CLI::App& cmd, std::string& spec) {
  cmd.add_option("--augment", spec,
                 "Perturb training batches: none, default (scale=0.2) or a list of scale=F "
                 "(per-channel gain sd), noise=F (additive sd, in scaled units), shift=N (steps along time/space)")
      ->capture_default_str();
}

void require_positive(double value, const std::string& flag) {
  if (!(value > 0)) throw UsageError(fmt::format("{}: must be positive, got {}", flag, value));
}

}  // namespace snare::cli
