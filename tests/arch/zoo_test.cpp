// The built-in architectures: each builds a valid graph whose parameter count is the one its description (and
// `snare train --help`) states, the same graph for the same seed and other weights for another.
#include "arch/zoo.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "analysis/stats.h"
#include "common/error.h"

namespace {

namespace arch = snare::arch;

/// "(61,706 params)" in a description -> 61706; -1 when the description states no count.
int64_t stated_params(const std::string& description) {
  std::smatch m;
  if (!std::regex_search(description, m, std::regex(R"(\(([0-9,]+) params\))"))) return -1;
  std::string digits;
  for (char c : m[1].str()) {
    if (c != ',') digits += c;
  }
  return std::stoll(digits);
}

TEST(Zoo, EveryArchitectureBuildsWithTheParameterCountItStates) {
  ASSERT_GE(arch::architectures().size(), 7u);
  for (const arch::ArchInfo& a : arch::architectures()) {
    SCOPED_TRACE(a.name);
    snare::ir::Graph g = arch::build(a.name, 1);
    g.infer_shapes();
    EXPECT_NO_THROW(snare::ir::verify(g));
    EXPECT_EQ(g.name, a.name);
    const int64_t stated = stated_params(a.summary);
    ASSERT_GT(stated, 0) << "the description states no parameter count: " << a.summary;
    EXPECT_EQ(snare::analysis::analyze(g).params, stated);
  }
}

TEST(Zoo, SameSeedSameWeightsOtherSeedOtherWeights) {
  for (const arch::ArchInfo& a : arch::architectures()) {
    SCOPED_TRACE(a.name);
    const std::string once = snare::ir::dump(arch::build(a.name, 7));
    EXPECT_EQ(once, snare::ir::dump(arch::build(a.name, 7)));
    EXPECT_NE(once, snare::ir::dump(arch::build(a.name, 8)));
  }
}

TEST(Zoo, UnknownNameListsTheKnownOnes) {
  try {
    arch::build("resnet50", 1);
    FAIL() << "no error";
  } catch (const snare::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("resnet50"), std::string::npos) << message;
    EXPECT_NE(message.find("lenet5"), std::string::npos) << message;
  }
}

}  // namespace
