#include "analysis/dynamics.h"

#include "errors/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

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


// Synthetic training curves: log-spaced early checkpoints, even later ones.
std::vector<std::int64_t> schedule() {
  return {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 400, 600, 800, 1000, 1200, 1400, 1600};
}

// Random init -> early collapse -> fitting peak at step 128 -> slow compression.
double two_phase(std::int64_t step) {
  if (step == 0) return 0.60;  // random embeddings keep every token apart
  if (step <= 8) return 0.60 - 0.07 * static_cast<double>(step);
  const double x = std::log(static_cast<double>(step));
  return 0.35 * std::exp(-0.5 * (x - std::log(128.0)) * (x - std::log(128.0)) / 1.2) + 0.25 * x / std::log(1600.0);
}

// A deterministic +-amplitude wiggle (no generator needed for a reproducible "noise").
double wiggle(std::size_t i, double amplitude) { return amplitude * (static_cast<double>((i * 7919) % 13) / 6.0 - 1.0); }

TEST(DynamicsTest, TurningPointIsTheFittingPeakNotTheRandomInitialisation) {
  std::vector<double> c;
  for (const auto s : schedule()) c.push_back(two_phase(s));
  ASSERT_GT(c[0], *std::max_element(c.begin() + 1, c.end())) << "step 0 is the global maximum of this curve";
  const auto t = find_turning_point(c, 1);
  ASSERT_TRUE(t.found);
  EXPECT_EQ(schedule()[t.idx], 128);
  EXPECT_NEAR(t.rise, c[t.idx] - *std::min_element(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(t.idx)), 1e-12);
  EXPECT_NEAR(t.fall, c[t.idx] - *std::min_element(c.begin() + static_cast<std::ptrdiff_t>(t.idx), c.end()), 1e-12);
  EXPECT_DOUBLE_EQ(t.prominence, std::min(t.rise, t.fall));
}

TEST(DynamicsTest, TurningPointSurvivesNoiseWithSmoothing) {
  std::vector<double> c;
  for (std::size_t i = 0; i < schedule().size(); ++i) c.push_back(two_phase(schedule()[i]) + wiggle(i, 0.01));
  const auto t = find_turning_point(c, 3);
  ASSERT_TRUE(t.found);
  EXPECT_GE(schedule()[t.idx], 64);
  EXPECT_LE(schedule()[t.idx], 256);
}

TEST(DynamicsTest, NoTurningPointForMonotoneOrFlatCurvesOrBelowTheProminence) {
  std::vector<double> rising, falling, flat;
  for (std::size_t i = 0; i < 12; ++i) {
    rising.push_back(0.1 + 0.05 * static_cast<double>(i));
    falling.push_back(0.8 - 0.05 * static_cast<double>(i));
    flat.push_back(0.3);
  }
  EXPECT_FALSE(find_turning_point(rising, 1).found);
  EXPECT_FALSE(find_turning_point(falling, 1).found);
  EXPECT_FALSE(find_turning_point(flat, 1).found);
  // A bump of 0.02 is a turning point, unless the prominence asked for is larger.
  std::vector<double> bump = {0.30, 0.31, 0.32, 0.30, 0.30};
  EXPECT_TRUE(find_turning_point(bump, 1).found);
  EXPECT_FALSE(find_turning_point(bump, 1, 0.05).found);
  // A wiggle of 0.0003 on a curve that falls by 0.04 is not a turning point (5% of the range).
  const std::vector<double> wiggly = {0.3612, 0.3615, 0.3600, 0.355, 0.32, 0.319};
  EXPECT_FALSE(find_turning_point(wiggly, 1).found);
  EXPECT_TRUE(find_turning_point(wiggly, 1, 0.0, 0.0).found);
}

TEST(DynamicsTest, MissingValuesAreSkipped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto t = find_turning_point({0.1, nan, 0.3, 0.5, nan, 0.2}, 1);
  ASSERT_TRUE(t.found);
  EXPECT_EQ(t.idx, 3u);
  EXPECT_FALSE(find_turning_point({nan, 0.5, nan, 0.2}, 1).found);  // fewer than 3 values
  const auto m = moving_average({1.0, nan, 3.0}, 3);
  EXPECT_DOUBLE_EQ(m[1], 2.0);
}

LayerSeries synthetic_layer(int layer, double compression) {
  LayerSeries s;
  s.layer = layer;
  s.steps = schedule();
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    const double x = std::log(static_cast<double>(s.steps[i]) + 1.0);
    // I(X;Z): up to a peak at step 128, then down by `compression` over the rest.
    const double c = s.steps[i] <= 128 ? 0.2 + 0.3 * x / std::log(129.0)
                                       : 0.5 - compression * (x - std::log(129.0)) / (std::log(1601.0) - std::log(129.0));
    s.complexity.push_back(c);
    s.complexity_ci_low.push_back(c - 0.01);
    s.complexity_ci_high.push_back(c + 0.01);
    s.complexity_null.push_back(0.02);
    // I(Y;Z) holds at 0.3 after the peak: optimality rises as I(X;Z) falls.
    s.optimality.push_back((s.steps[i] <= 128 ? 0.3 * x / std::log(129.0) : 0.3) / c);
    s.heldout_loss.push_back(8.0 / (1.0 + x));  // improves to the last checkpoint
  }
  return s;
}

TEST(DynamicsTest, TwoPhasesOfALayerArePassedCheckByCheck) {
  const auto c = check_phases(synthetic_layer(3, 0.1), {1, 0.05});
  ASSERT_TRUE(c.turning.found);
  EXPECT_EQ(schedule()[c.turning.idx], 128);
  EXPECT_EQ(c.best_idx, schedule().size() - 1);
  EXPECT_NEAR(c.fall, 0.1, 1e-12);
  EXPECT_TRUE(c.falls_enough);
  EXPECT_TRUE(c.loss_improves);
  EXPECT_TRUE(c.beyond_interval);
  EXPECT_TRUE(c.beyond_null);
  EXPECT_TRUE(c.optimality_rises);
  EXPECT_TRUE(c.compresses());
  EXPECT_EQ(schedule()[c.peak_idx], 128);
  // With a moving average over 3 checkpoints the smoothed peak may move; the peak
  // checkpoint is the highest raw value within the window around it.
  const auto smoothed = check_phases(synthetic_layer(3, 0.1), {3, 0.05});
  ASSERT_TRUE(smoothed.turning.found);
  EXPECT_EQ(schedule()[smoothed.peak_idx], 128);
  EXPECT_NEAR(smoothed.fall, 0.1, 1e-12);
}

TEST(DynamicsTest, EachPhaseCheckFailsOnItsOwn) {
  // Too small a fall.
  EXPECT_FALSE(check_phases(synthetic_layer(3, 0.03), {1, 0.05}).falls_enough);
  // Intervals wider than the fall.
  auto wide = synthetic_layer(3, 0.1);
  for (auto& v : wide.complexity_ci_low) v -= 0.1;
  EXPECT_FALSE(check_phases(wide, {1, 0.05}).beyond_interval);
  EXPECT_TRUE(check_phases(wide, {1, 0.05}).falls_enough);
  // A null as large as the fall.
  auto null = synthetic_layer(3, 0.1);
  for (auto& v : null.complexity_null) v = 0.2;
  EXPECT_FALSE(check_phases(null, {1, 0.05}).beyond_null);
  // The best held-out loss before the peak (overfitting from the start).
  auto overfit = synthetic_layer(3, 0.1);
  for (std::size_t i = 0; i < overfit.heldout_loss.size(); ++i) overfit.heldout_loss[i] = 2.0 + 0.01 * static_cast<double>(i);
  const auto o = check_phases(overfit, {1, 0.05});
  EXPECT_EQ(o.best_idx, 0u);
  EXPECT_FALSE(o.loss_improves);
  EXPECT_FALSE(o.compresses());
  // No held-out loss at all.
  auto no_loss = synthetic_layer(3, 0.1);
  for (auto& v : no_loss.heldout_loss) v = std::numeric_limits<double>::quiet_NaN();
  const auto n = check_phases(no_loss, {1, 0.05});
  EXPECT_FALSE(n.has_best);
  EXPECT_FALSE(n.compresses());
  // Lengths must agree.
  auto bad = synthetic_layer(3, 0.1);
  bad.optimality.pop_back();
  EXPECT_THROW(check_phases(bad), CorruptDataError);
}

TEST(DynamicsTest, AModelShowsBothPhasesWhenItsUpperLayersDo) {
  std::vector<PhaseCheck> layers;
  for (int l = 0; l <= 4; ++l) layers.push_back(check_phases(synthetic_layer(l, l >= 3 ? 0.1 : 0.01), {1, 0.05}));
  auto v = judge_phases(layers);
  EXPECT_EQ(v.upper_layers, (std::vector<int>{3, 4}));
  EXPECT_EQ(v.last_layer, 4);
  EXPECT_TRUE(v.both_phases());
  layers[3] = check_phases(synthetic_layer(3, 0.02), {1, 0.05});  // one upper layer barely compresses
  v = judge_phases(layers);
  EXPECT_FALSE(v.upper_layers_compress);
  EXPECT_FALSE(v.both_phases());
  EXPECT_FALSE(judge_phases({}).both_phases());
}

}  // namespace
}  // namespace ibzoo::analysis
