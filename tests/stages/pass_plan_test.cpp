// stages/pass_plan: the passes of an item within a budget, with the buffers a pass holds
// per layer beside its tables (the host's p of each layer, the team's too).
#include "stages/pass_plan.h"

#include "errors/error.h"

#include <gtest/gtest.h>

namespace ibzoo::stages {
namespace {

analysis::StateLayout two_sets() {
  analysis::StateLayout layout;
  layout.n_bins = 10;
  layout.label_sets = {"in1", "out1"};
  layout.label_rows = {300, 200};
  return layout;
}

TEST(PassPlanTest, BuffersPerLayerArePlannedWithTheTables) {
  // A batch of 1000 tokens, m = 10: 40 KB of float32 p per layer; a team of 4 also holds
  // the 4 gathered from the team and one unpacked. The device holds none per layer.
  EXPECT_EQ(pass_bytes_per_layer(true, 1000, 10, 1), 40000);
  EXPECT_EQ(pass_bytes_per_layer(true, 1000, 10, 4), 6 * 40000);
  EXPECT_EQ(pass_bytes_per_layer(false, 1000, 10, 4), 0);
}

TEST(PassPlanTest, BuffersPerLayerMakeSmallerLayerGroups) {
  const auto layout = two_sets();
  const std::vector<int> layers = {0, 1, 2, 3, 4, 5};
  const auto table = layer_table_bytes(layout, {}, 1);
  ASSERT_GT(table, 0);
  // Three layers' tables fit: two passes of three layers.
  const auto alone = plan_passes(layers, layout, {}, 1, 3 * table);
  EXPECT_EQ(alone.layer_groups, (std::vector<std::vector<int>>{{0, 1, 2}, {3, 4, 5}}));
  EXPECT_EQ(alone.bytes_per_layer, table);
  // With half a layer's tables more per layer, two layers fit: three passes.
  const auto with_buffers = plan_passes(layers, layout, {}, 1, 3 * table, table / 2);
  EXPECT_EQ(with_buffers.layer_groups, (std::vector<std::vector<int>>{{0, 1}, {2, 3}, {4, 5}}));
  EXPECT_EQ(with_buffers.row_shares, 1);
}

TEST(PassPlanTest, ALayerWhoseTablesAndBuffersDoNotFitSplitsItsRows) {
  const auto layout = two_sets();
  const auto table = layer_table_bytes(layout, {}, 1);
  // The tables alone would fit, not with the buffers: the rows go in two shares.
  const auto plan = plan_passes({0, 1}, layout, {}, 1, table + 10, 20);
  EXPECT_EQ(plan.row_shares, 2);
  EXPECT_LE(plan.bytes_per_layer + 20, table + 10);
  // Buffers larger than the whole budget leave nothing for any share.
  EXPECT_THROW(plan_passes({0, 1}, layout, {}, 1, 1000, 2000), UsageError);
}

}  // namespace
}  // namespace ibzoo::stages
