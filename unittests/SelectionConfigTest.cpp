//===- SelectionConfigTest.cpp - defaults of the selection attributes -----===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "gtest/gtest.h"

using mlir::moe::SelectionConfig;

TEST(SelectionConfig, UngroupedDefaults) {
  SelectionConfig config = SelectionConfig::get(64, 6, 1, std::nullopt,
                                                std::nullopt);
  EXPECT_EQ(config.numGroups, 1);
  EXPECT_EQ(config.topkGroups, 1);
  EXPECT_EQ(config.groupSize(), 64);
  EXPECT_EQ(config.groupTop, 2);
  EXPECT_FALSE(config.isGroupLimited());
}

TEST(SelectionConfig, DeepSeekV3) {
  SelectionConfig config = SelectionConfig::get(256, 8, 8, 4, std::nullopt);
  EXPECT_TRUE(config.isGroupLimited());
  EXPECT_EQ(config.groupSize(), 32);
  EXPECT_EQ(config.topkGroups, 4);
  EXPECT_EQ(config.groupTop, 2);
}

TEST(SelectionConfig, TopkGroupsDefaultsToAllGroups) {
  SelectionConfig config = SelectionConfig::get(160, 6, 5, std::nullopt, 3);
  EXPECT_EQ(config.topkGroups, 5);
  EXPECT_EQ(config.groupTop, 3);
}

TEST(SelectionConfig, SingleExpertGroupsScoreOneKey) {
  // group_top defaults to 1 when every group holds one expert.
  SelectionConfig config = SelectionConfig::get(16, 2, 16, 4, std::nullopt);
  EXPECT_EQ(config.groupSize(), 1);
  EXPECT_EQ(config.groupTop, 1);
}

TEST(SelectionConfig, ZeroGroupsDoNotDivideByZero) {
  // Invalid IR reaches getSelectionConfig before the verifier reports it.
  SelectionConfig config = SelectionConfig::get(8, 2, 0, std::nullopt,
                                                std::nullopt);
  EXPECT_EQ(config.groupSize(), 0);
}
