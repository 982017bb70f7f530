// The models reduction tests run on: every built-in architecture and every Keras fixture in
// ../shared/models/keras (skipped when the shared folder is absent).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "arch/zoo.h"
#include "support/layer_graphs.h"
#include "io/model_file.h"

namespace snare::testing {

inline std::vector<std::pair<std::string, ir::Graph>> reduction_models() {
  std::vector<std::pair<std::string, ir::Graph>> out;
  for (const auto& a : arch::architectures()) out.emplace_back(a.name, arch::build(a.name, 7));
  // Squeeze-and-excitation gates, every element-wise merge, Cropping, UpSampling, keepdims pools.
  out.emplace_back("merge_graph_2d", test::merge_graph_2d());
  out.emplace_back("merge_graph_1d", test::merge_graph_1d());
  out.emplace_back("separable_graph_2d", test::separable_graph_2d());
  out.emplace_back("separable_graph_1d", test::separable_graph_1d());
  const std::filesystem::path dir = "../shared/models/keras";
  if (std::filesystem::is_directory(dir)) {
    std::vector<std::string> files;
    // Top-level files only: keras/zoo/ holds the embedded models, which need layers of their own (open issue).
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) out.emplace_back(f, io::load_model(f));
  }
  return out;
}

}  // namespace snare::testing
