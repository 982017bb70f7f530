// Built-in architectures of the reference experiments, built in code with fresh (untrained) weights.
//
//   ir::Graph g = arch::build("lenet5", /*seed=*/1);   // 61,706 parameters, 416,520 MACs
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::arch {

struct ArchInfo {
  const char* name;
  const char* summary;
  const char* data;  ///< the data set it is meant for (--data default)
};

/// Every built-in architecture, sorted by name.
const std::vector<ArchInfo>& architectures();

/// Builds `name` with Glorot-uniform weights from `seed`. Throws OptionError for unknown names.
ir::Graph build(const std::string& name, uint64_t seed);

}  // namespace snare::arch
