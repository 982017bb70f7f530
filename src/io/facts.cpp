#include "io/facts.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace snare::io {

namespace {

using Scale = ir::InputScaling::Scale;
using Json = nlohmann::json;

const char* scale_name(Scale s) {
  switch (s) {
    case Scale::kRaw: return "raw";
    case Scale::kUnit: return "unit";
    case Scale::kStandard: return "standard";
    case Scale::kUnstated: break;
  }
  return "";
}

std::string number_list(const std::vector<double>& v) { return Json(v).dump(); }

}  // namespace

std::map<std::string, std::string> fact_entries(const ir::Graph& g) {
  std::map<std::string, std::string> out;
  const ir::InputScaling& s = g.input_scaling;
  if (s.scale != Scale::kUnstated) out["snare.scale"] = scale_name(s.scale);
  if (s.scale == Scale::kStandard && !s.mean.empty()) out["snare.mean"] = number_list(s.mean);
  if (s.scale == Scale::kStandard && !s.stddev.empty()) out["snare.stddev"] = number_list(s.stddev);
  if (!g.trained_on.empty()) out["snare.data"] = g.trained_on;
  if (!g.class_names.empty()) out["snare.class_names"] = Json(g.class_names).dump();
  Json factorized = Json::object();
  for (const ir::Layer& l : g.layers) {
    if (!l.factorized_from.empty()) factorized[l.name] = l.factorized_from;
  }
  if (!factorized.empty()) out["snare.factorized_from"] = factorized.dump();
  return out;
}

bool read_fact_entry(ir::Graph& g, const std::string& key, const std::string& value, const std::string& file,
                     const std::string& where) {
  auto bad = [&](const std::string& expected) {
    return ModelError(fmt::format("{}: {} {}: expected {}, got '{}'", file, where, key, expected,
                                  value.size() > 80 ? value.substr(0, 80) + "..." : value));
  };
  if (key == "snare.scale") {
    if (value == "raw") g.input_scaling.scale = Scale::kRaw;
    else if (value == "unit") g.input_scaling.scale = Scale::kUnit;
    else if (value == "standard") g.input_scaling.scale = Scale::kStandard;
    else throw bad("raw, unit or standard");
    return true;
  }
  if (key == "snare.mean" || key == "snare.stddev") {
    const Json j = Json::parse(value, nullptr, false);
    std::vector<double> numbers;
    if (!j.is_array() || j.empty()) throw bad("a non-empty JSON list of numbers");
    for (const Json& x : j) {
      if (!x.is_number() || !std::isfinite(x.get<double>())) throw bad("a non-empty JSON list of finite numbers");
      numbers.push_back(x.get<double>());
    }
    if (key == "snare.stddev") {
      for (double x : numbers) {
        if (!(x > 0)) throw bad("positive standard deviations");
      }
    }
    (key == "snare.mean" ? g.input_scaling.mean : g.input_scaling.stddev) = numbers;
    return true;
  }
  if (key == "snare.data") {
    g.trained_on = value;
    return true;
  }
  if (key == "snare.class_names") {
    const Json j = Json::parse(value, nullptr, false);
    if (!j.is_array()) throw bad("a JSON list of strings");
    std::vector<std::string> names;
    for (const Json& x : j) {
      if (!x.is_string()) throw bad("a JSON list of strings");
      names.push_back(x.get<std::string>());
    }
    g.class_names = names;
    return true;
  }
  if (key == "snare.factorized_from") {
    const Json j = Json::parse(value, nullptr, false);
    if (!j.is_object()) throw bad("a JSON object of layer names");
    for (const auto& [layer, from] : j.items()) {
      const int index = g.index_of(layer);
      if (index < 0 || !from.is_string()) throw bad("a JSON object of this model's layer names");
      g.layers[static_cast<size_t>(index)].factorized_from = from.get<std::string>();
    }
    return true;
  }
  return false;
}

std::string scaling_summary(const ir::InputScaling& s) {
  if (s.scale == Scale::kUnstated) return "";
  std::string out = fmt::format("snare.scale={}", scale_name(s.scale));
  if (s.scale == Scale::kStandard) {
    out += fmt::format(" snare.mean={} snare.stddev={}", number_list(s.mean), number_list(s.stddev));
  }
  return out;
}

}  // namespace snare::io
