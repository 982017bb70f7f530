// The per-kind traits table: one row per LayerKind, in enum order, consistent with the predicates built on it.
#include "ir/kind_traits.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace {

using snare::ir::ChannelFlow;
using snare::ir::LayerKind;

TEST(KindTraits, OneRowPerKindInEnumOrderWithUniqueLowerCaseNames) {
  const auto& table = snare::ir::all_kind_traits();
  ASSERT_EQ(static_cast<size_t>(LayerKind::kSeparableConv2D) + 1, table.size())
      << "a LayerKind was added after kSeparableConv2D: this test names the last kind";
  std::set<std::string> names;
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(table[i].kind), i);
    std::string name = table[i].name;
    EXPECT_TRUE(names.insert(name).second) << name;
    for (char c : name) EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c))) << name;
    EXPECT_EQ(snare::ir::kind_name(table[i].kind), name);
    EXPECT_EQ(&snare::ir::traits(table[i].kind), &table[i]);
  }
}

TEST(KindTraits, PredicatesFollowTheTable) {
  for (const auto& t : snare::ir::all_kind_traits()) {
    EXPECT_EQ(snare::ir::has_units(t.kind), t.flow == ChannelFlow::kOwnUnits) << t.name;
    EXPECT_EQ(snare::ir::is_merge(t.kind), t.flow == ChannelFlow::kMerge) << t.name;
    // Units live in weights; merges and the other weightless kinds have none.
    if (t.flow == ChannelFlow::kOwnUnits) {
      EXPECT_TRUE(t.weighted) << t.name;
    }
    if (t.flow == ChannelFlow::kMerge) {
      EXPECT_FALSE(t.weighted) << t.name;
    }
    EXPECT_EQ(snare::ir::is_recurrent(t.kind), snare::ir::gate_count(t.kind) > 0) << t.name;
  }
  EXPECT_EQ(snare::ir::traits(LayerKind::kConv2D).spatial_rank, 2);
  EXPECT_EQ(snare::ir::traits(LayerKind::kSeparableConv1D).spatial_rank, 1);
  EXPECT_TRUE(snare::ir::traits(LayerKind::kBatchNorm).weighted);
  EXPECT_EQ(snare::ir::traits(LayerKind::kBatchNorm).flow, ChannelFlow::kPerChannel);
}

}  // namespace
