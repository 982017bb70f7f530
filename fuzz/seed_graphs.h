// The models fuzzing starts from: every built-in architecture and the test graphs that hold each newer layer kind
// (merges, separable convolutions, recurrent layers), small enough to read thousands of times a second.
#pragma once

#include <vector>

#include "arch/zoo.h"
#include "ir/graph.h"
#include "support/layer_graphs.h"
#include "support/recurrent_graphs.h"

namespace snare::fuzz {

inline std::vector<ir::Graph> seed_graphs() {
  std::vector<ir::Graph> out;
  for (const arch::ArchInfo& a : arch::architectures()) out.push_back(arch::build(a.name, 1));
  for (ir::Graph& g : test::new_layer_graphs()) out.push_back(std::move(g));
  for (ir::Graph& g : testing::recurrent_graphs()) out.push_back(std::move(g));
  return out;
}

}  // namespace snare::fuzz
