// The models reduction tests run on: every built-in architecture, graphs of the coupling layers (element-wise merges,
// Concatenate with BatchNorm, separable convs), and every Keras file in ../shared/models/keras and its embedded zoo
// (real MobileNets and ResNets with BatchNorm and Add; skipped when the shared folder is absent).
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
  out.emplace_back("concat_graph_2d", test::concat_graph_2d());
  std::vector<std::string> files;
  for (const char* dir : {"../shared/models/keras", "../shared/models/keras/zoo"}) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) out.emplace_back(f, io::load_model(f));
  return out;
}

}  // namespace snare::testing
