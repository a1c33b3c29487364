#include "analysis/dynamics.h"

#include "errors/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ibzoo::analysis {
namespace {

TEST(DynamicsTest, MovingAverageTruncatesTheWindowAtTheEnds) {
  const auto s = moving_average({1, 2, 6, 3, 8}, 3);
  EXPECT_DOUBLE_EQ(s[0], 1.5);
  EXPECT_DOUBLE_EQ(s[1], 3.0);
  EXPECT_DOUBLE_EQ(s[2], 11.0 / 3.0);
  EXPECT_DOUBLE_EQ(s[4], 5.5);
  EXPECT_EQ(moving_average({4, 5}, 1), (std::vector<double>{4, 5}));
}

TEST(DynamicsTest, FindsTheStepWhereComplexityStartsToFall) {
  // Given out of order: complexity rises to step 3000 then falls (compression).
  std::vector<PlanePoint> pts = {{4000, 2.6, 2.2}, {0, 0.5, 0.1}, {1000, 1.5, 0.8},
                                 {2000, 2.4, 1.6}, {3000, 2.9, 2.0}, {5000, 2.2, 2.1}};
  const auto t = analyse_trajectory(pts, 1);
  ASSERT_TRUE(t.has_turning_point);
  EXPECT_EQ(t.turning_step, 3000);
  EXPECT_EQ(t.points.front().step, 0);
  EXPECT_NEAR(t.gap.back(), 0.1, 1e-12);
  EXPECT_NEAR(t.perpendicular.back(), 0.1 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(t.optimality.back(), 2.1 / 2.2, 1e-12);
}

TEST(DynamicsTest, SmoothingIgnoresASingleSpike) {
  // Raw maximum is the spike at step 1; smoothed (window 3) maximum is at step 3.
  std::vector<PlanePoint> pts;
  const std::vector<double> c = {1.0, 3.0, 1.0, 2.4, 2.5, 2.4, 1.0};
  for (std::size_t i = 0; i < c.size(); ++i) pts.push_back({static_cast<std::int64_t>(i), c[i], 0.5});
  EXPECT_EQ(analyse_trajectory(pts, 1).turning_step, 1);
  EXPECT_EQ(analyse_trajectory(pts, 3).turning_step, 4);
}

TEST(DynamicsTest, NoTurningPointWhileComplexityStillRises) {
  const auto t = analyse_trajectory({{0, 1, 0.5}, {10, 2, 1}, {20, 3, 2}}, 1);
  EXPECT_FALSE(t.has_turning_point);
  EXPECT_FALSE(analyse_trajectory({{0, 1, 0.5}, {10, 0.5, 0.2}}, 1).has_turning_point);  // too few points
}

TEST(DynamicsTest, OptimalityIsNaNWithoutComplexity) {
  const auto t = analyse_trajectory({{0, 0.0, 0.0}}, 1);
  EXPECT_TRUE(std::isnan(t.optimality[0]));
}

TEST(DynamicsTest, DuplicateStepsAreAnError) {
  try {
    analyse_trajectory({{5, 1, 1}, {5, 2, 1}}, 1);
    FAIL() << "expected CorruptDataError";
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("share step 5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ibzoo::analysis
