// Writes a report for bench/report_screenshot: either a realistic, synthetic LeNet-5 run (sizes and
// MACs computed from the real layer shapes, accuracies from a simple deterministic model) or, given a
// report.json, that report rendered again with the current page.
//
//   bench_report_sample OUT_DIR [REPORT_JSON]
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <exception>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "report/report.h"

namespace {

using nlohmann::json;

// LeNet-5 as the zoo's `lenet5` (Keras names): conv 5x5 'same' on 28x28, pool, conv 5x5 'valid', pool,
// dense 120, dense 84, dense 10.
struct Net {
  std::array<double, 5> units{6, 16, 120, 84, 10};
  std::array<double, 5> density{1, 1, 1, 1, 1};  // non-zero fraction of each layer's weights
};

constexpr std::array<const char*, 5> kNames{"conv2d", "conv2d_1", "dense", "dense_1", "dense_2"};
constexpr std::array<const char*, 5> kKinds{"conv2d", "conv2d", "dense", "dense", "dense"};

struct LayerSize {
  double weights, biases, macs;
};

LayerSize layer_size(const Net& n, int i) {
  const auto& u = n.units;
  switch (i) {
    case 0: return {u[0] * 25, u[0], 28 * 28 * u[0] * 25};
    case 1: return {u[1] * 25 * u[0], u[1], 10 * 10 * u[1] * 25 * u[0]};
    case 2: return {25 * u[1] * u[2], u[2], 25 * u[1] * u[2]};
    case 3: return {u[2] * u[3], u[3], u[2] * u[3]};
    default: return {u[3] * u[4], u[4], u[3] * u[4]};
  }
}

json summary(const Net& n, double val, double test) {
  json layers = json::array();
  double params = 0, nonzero = 0, macs = 0;
  for (int i = 0; i < 5; ++i) {
    LayerSize s = layer_size(n, i);
    double nz = std::round(s.weights * n.density[i]) + s.biases;
    layers.push_back({{"name", kNames[i]}, {"kind", kKinds[i]}, {"units", std::llround(n.units[i])},
                      {"params", std::llround(s.weights + s.biases)}, {"nonzero_params", std::llround(nz)},
                      {"macs", std::llround(s.macs)}});
    params += s.weights + s.biases;
    nonzero += nz;
    macs += s.macs;
  }
  json out = {{"params", std::llround(params)}, {"nonzero_params", std::llround(nonzero)}, {"macs", std::llround(macs)},
              {"val_accuracy", val}};
  if (test > 0) out["test_accuracy"] = test;
  out["layers"] = layers;
  return out;
}

/// Accuracy falls as the network gets smaller, faster for the convolutions; plus deterministic noise.
double accuracy(const Net& n, uint64_t& rng) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  double noise = (static_cast<double>(rng >> 11) / 9007199254740992.0 - 0.5) * 0.0016;
  double loss = 0.0;
  const std::array<double, 5> original{6, 16, 120, 84, 10};
  const std::array<double, 5> weight{0.012, 0.006, 0.0015, 0.001, 0};
  for (int i = 0; i < 5; ++i) {
    double kept = n.units[i] / original[i] * std::pow(n.density[i], 0.6);
    loss += weight[i] * std::pow(1.0 / kept - 1.0, 1.6) * 0.05;
  }
  return std::round((0.9912 - loss + noise) * 10000) / 10000;
}

json sample_report() {
  const double max_loss = 0.39;
  Net net;
  uint64_t rng = 1;
  const double base_val = 0.9912;
  const double margin = std::sqrt(base_val * (1 - base_val) / 12000);  // 1 standard error of 12,000 samples
  const double floor = base_val - max_loss / 100 + margin;
  json baseline = summary(net, base_val, 0.9903);

  struct Move {
    const char* op;
    int layer;
    double value;  // units to keep, or density to reach
  };
  const Move moves[] = {
      {"units", 2, 60},    {"units", 3, 42},    {"units", 2, 40},    {"mask", 2, 0.5},    {"units", 1, 12},
      {"units", 3, 28},    {"mask", 2, 0.25},   {"units", 1, 9},     {"units", 0, 4},     {"mask", 2, 0.12},
      {"mask", 3, 0.5},    {"units", 2, 30},    {"mask", 0, 0.7},    {"mask", 2, 0.08},   {"mask", 1, 0.6},
      {"units", 3, 20},    {"mask", 3, 0.3},    {"lowrank", 2, 0.06}, {"mask", 1, 0.45},  {"units", 0, 3},
      {"mask", 4, 0.5},    {"mask", 2, 0.05},   {"mask", 4, 0.35},   {"mask", 1, 0.35},   {"units", 2, 24},
  };
  json steps = json::array();
  double wall = 0;
  int step = 0;
  for (const Move& m : moves) {
    Net trial = net;
    std::string plan;
    if (std::string(m.op) == "units") {
      trial.units[m.layer] = m.value;
      plan = fmt::format("{}: keep {} of {} units", kNames[m.layer], m.value, net.units[m.layer]);
    } else if (std::string(m.op) == "mask") {
      trial.density[m.layer] = m.value;
      plan = fmt::format("{}: keep {:.0f}% of weights (magnitude)", kNames[m.layer], m.value * 100);
    } else {
      trial.density[m.layer] = m.value;
      plan = fmt::format("{}: factorise to rank {}", kNames[m.layer], static_cast<int>(m.value * 400));
    }
    json s = summary(trial, accuracy(trial, rng), 0);
    json scores = json::array();
    for (int i = 0; i < 4; ++i) {
      LayerSize size = layer_size(net, i);
      double total = 0, total_macs = 0;
      for (int k = 0; k < 5; ++k) total += layer_size(net, k).weights, total_macs += layer_size(net, k).macs;
      scores.push_back({{"target", kNames[i]}, {"op", i == m.layer ? m.op : "units"},
                        {"score", std::round((size.weights / total + size.macs / total_macs) * 1000 / (1 + i)) / 1000},
                        {"param_share", size.weights / total}, {"mac_share", size.macs / total_macs},
                        {"sensitivity", 0.001 * (5 - i)}, {"failures", 0}});
    }
    double val = s["val_accuracy"];
    bool accepted = val >= floor;
    double seconds = 3.0 + static_cast<double>((rng >> 20) % 600) / 100.0;
    wall += seconds;
    steps.push_back({{"step", ++step}, {"op", m.op}, {"target", kNames[m.layer]}, {"plan", plan},
                     {"scores", scores}, {"params", s["params"]}, {"nonzero_params", s["nonzero_params"]},
                     {"macs", s["macs"]}, {"val_accuracy", val}, {"seconds", seconds}, {"accepted", accepted},
                     {"reason", fmt::format("val accuracy {:.4f} {} {:.4f}", val, accepted ? ">=" : "<", floor)}});
    if (accepted) net = trial;
  }
  double final_val = std::min(base_val - 0.0012, accuracy(net, rng) + 0.0009);
  json final_summary = summary(net, final_val, 0.9879);
  steps.push_back({{"step", ++step}, {"op", "finetune"}, {"target", "all"}, {"plan", "fine-tune 3 epochs"},
                   {"params", final_summary["params"]}, {"nonzero_params", final_summary["nonzero_params"]},
                   {"macs", final_summary["macs"]}, {"val_accuracy", final_val}, {"seconds", 41.5},
                   {"accepted", true}, {"reason", "final fine-tune"}});
  wall += 41.5 + 95.0;  // plus baseline evaluation and sensitivity trials

  return {{"snare_version", "0.1.0"},
          {"created", "2026-11-28T08:10:00Z"},
          {"machine", "sample data (bench/report_sample.cpp), 2 cores, GPU: none"},
          {"versions", {{"libtorch", "1.13.0"}, {"snare", "0.1.0"}}},
          {"model", {{"name", "lenet5"}, {"input", "arch:lenet5"}, {"output", "out/lenet5-reduced.h5"}}},
          {"data", "mnist"},
          {"seed", 1},
          {"options",
           {{"max_loss", max_loss}, {"budget_params", nullptr}, {"budget_macs", nullptr}, {"retrain_batches", 300},
            {"distill", true}, {"device", "cpu"}, {"time_limit_minutes", 30}, {"margin_se", 1}}},
          {"accept_threshold", floor},
          {"baseline", baseline},
          {"final", final_summary},
          {"steps", steps},
          {"stop_reason", "no reducible layer left"},
          {"wall_seconds", wall}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: bench_report_sample OUT_DIR [REPORT_JSON]\n";
    return 2;
  }
  try {
    json report;
    if (argc == 3) {
      std::ifstream in(argv[2]);
      if (!in) {
        std::cerr << "cannot read " << argv[2] << "\n";
        return 5;
      }
      report = json::parse(in);
    } else {
      report = sample_report();
    }
    snare::report::write_report(report, argv[1]);
    std::cout << argv[1] << "/report.html\n";
  } catch (const std::exception& e) {
    std::cerr << "bench_report_sample: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
