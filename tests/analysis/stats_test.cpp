// Checks every statistic against published values (Anscombe's quartet as R's
// cor.test reports it, Wikipedia's Spearman example) or a direct formula.
#include "analysis/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

namespace ibzoo::analysis {
namespace {

const std::vector<double> kAnscombeX = {10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5};
const std::vector<double> kAnscombeY1 = {8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68};

// Naive references, written independently of the code under test.
double naive_pearson(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(x.size());
  my /= static_cast<double>(y.size());
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

// rank = (number smaller) + (number equal + 1) / 2
std::vector<double> naive_ranks(const std::vector<double>& x) {
  std::vector<double> r;
  for (double v : x) {
    double less = 0, equal = 0;
    for (double w : x) less += w < v, equal += w == v;
    r.push_back(less + (equal + 1) / 2);
  }
  return r;
}

TEST(StatsTest, PearsonMatchesAnscombesQuartetAsRReportsIt) {
  const auto c = pearson(kAnscombeX, kAnscombeY1);
  EXPECT_EQ(c.n, 11u);
  EXPECT_DOUBLE_EQ(c.df, 9.0);
  EXPECT_NEAR(c.r, 0.8164205, 1e-7);  // cor.test: cor 0.8164205
  EXPECT_NEAR(c.p, 0.00217, 1e-5);    // cor.test: t = 4.2415, df = 9, p-value = 0.00217
}

TEST(StatsTest, FisherIntervalMatchesDirectFormulaAndPublishedAnscombeInterval) {
  const auto c = pearson(kAnscombeX, kAnscombeY1);
  const auto ci = fisher_z_interval(c.r, c.n, 0);
  const double z = 0.5 * std::log((1 + c.r) / (1 - c.r));
  const double half = 1.959963984540054 / std::sqrt(11.0 - 3.0);
  EXPECT_NEAR(ci.low, std::tanh(z - half), 1e-12);
  EXPECT_NEAR(ci.high, std::tanh(z + half), 1e-12);
  EXPECT_NEAR(ci.low, 0.424, 1e-3);  // cor.test: 95 percent confidence interval 0.424 0.951
  EXPECT_NEAR(ci.high, 0.951, 1e-3);
  EXPECT_TRUE(std::isnan(fisher_z_interval(0.5, 3, 0).low));
  EXPECT_TRUE(std::isnan(fisher_z_interval(0.5, 5, 2).low));
}

TEST(StatsTest, SpearmanMatchesWikipediaIqTelevisionExample) {
  const std::vector<double> iq = {106, 100, 86, 101, 99, 103, 97, 113, 112, 110};
  const std::vector<double> tv = {7, 27, 2, 50, 28, 29, 20, 12, 6, 17};
  const auto c = spearman(iq, tv);
  EXPECT_NEAR(c.r, -29.0 / 165.0, 1e-12);  // rho = 1 - 6 * 194 / (10 * 99)
  EXPECT_NEAR(c.p, 0.627188, 1e-6);        // "p-value = 0.627188 (using the t-distribution)"
}

TEST(StatsTest, AverageRanksGiveTiesTheMeanOfTheirPositions) {
  const std::vector<double> x = {10, 20, 20, 30, 20, 5};
  const auto r = average_ranks(x);
  EXPECT_EQ(r, (std::vector<double>{2, 4, 4, 6, 4, 1}));
  EXPECT_EQ(r, naive_ranks(x));
}

TEST(StatsTest, SpearmanWithTiesIsPearsonOfAverageRanks) {
  const std::vector<double> x = {1, 2, 2, 3, 4, 4, 4, 5, 6, 7};
  const std::vector<double> y = {2, 1, 3, 3, 5, 4, 6, 6, 6, 9};
  const auto c = spearman(x, y);
  const double r = naive_pearson(naive_ranks(x), naive_ranks(y));
  EXPECT_NEAR(c.r, r, 1e-12);
  const double t = r * std::sqrt(8.0 / (1 - r * r));
  EXPECT_NEAR(c.p, correlation_p_value(r, 8.0), 1e-15);
  EXPECT_GT(t, 0.0);
}

TEST(StatsTest, PValueMatchesClosedFormsForOneAndTwoDegreesOfFreedom) {
  for (double r : {0.1, 0.5, 0.9, -0.7}) {
    // df = 1: t is Cauchy, p = 1 - 2 atan(|t|) / pi.
    const double t1 = std::abs(r) * std::sqrt(1.0 / (1 - r * r));
    EXPECT_NEAR(correlation_p_value(r, 1.0), 1 - 2 * std::atan(t1) / std::numbers::pi, 1e-12);
    // df = 2: p = 1 - |t| / sqrt(t^2 + 2).
    const double t2 = std::abs(r) * std::sqrt(2.0 / (1 - r * r));
    EXPECT_NEAR(correlation_p_value(r, 2.0), 1 - t2 / std::sqrt(t2 * t2 + 2), 1e-12);
  }
  EXPECT_EQ(correlation_p_value(1.0, 5.0), 0.0);
  EXPECT_TRUE(std::isnan(correlation_p_value(0.3, 0.0)));
}

TEST(StatsTest, TinyOrConstantSamplesGiveNaN) {
  const std::vector<double> two = {1, 2};
  const auto c = pearson(two, two);
  EXPECT_EQ(c.n, 2u);
  EXPECT_TRUE(std::isnan(c.r));
  EXPECT_TRUE(std::isnan(c.p));
  const std::vector<double> flat = {3, 3, 3, 3};
  const std::vector<double> any = {1, 2, 3, 4};
  EXPECT_TRUE(std::isnan(pearson(flat, any).r));
  EXPECT_TRUE(std::isnan(spearman(flat, any).r));
}

TEST(StatsTest, PartialPearsonWithOneControlMatchesTheTextbookFormula) {
  const std::vector<double> x = {1.2, 2.3, 2.9, 4.1, 5.2, 5.8, 7.4, 8.1, 8.8, 10.3};
  const std::vector<double> y = {2.0, 1.9, 3.5, 3.1, 5.9, 4.4, 6.8, 7.7, 7.0, 9.9};
  const std::vector<double> z = {0.5, 1.5, 1.0, 2.5, 2.0, 3.5, 3.0, 4.5, 5.0, 4.0};
  const double rxy = naive_pearson(x, y), rxz = naive_pearson(x, z), ryz = naive_pearson(y, z);
  const double expected = (rxy - rxz * ryz) / std::sqrt((1 - rxz * rxz) * (1 - ryz * ryz));
  Eigen::MatrixXd controls(10, 1);
  for (int i = 0; i < 10; ++i) controls(i, 0) = z[static_cast<std::size_t>(i)];
  const auto c = partial_pearson(x, y, controls);
  EXPECT_NEAR(c.r, expected, 1e-12);
  EXPECT_DOUBLE_EQ(c.df, 7.0);  // n - 2 - k
  EXPECT_NEAR(c.p, correlation_p_value(expected, 7.0), 1e-15);
}

TEST(StatsTest, PartialCorrelationOnFamilyDummiesEqualsCorrelationOfWithinFamilyDeviations) {
  // Three families; dummies for two of them (the intercept absorbs the third), plus a
  // redundant all-zero column that must not cost a degree of freedom.
  const std::vector<double> x = {1, 2, 3, 4, 6, 7, 9, 10, 11, 13, 15, 12};
  const std::vector<double> y = {3, 2, 5, 4, 8, 6, 7, 12, 9, 14, 13, 16};
  const std::vector<int> family = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  Eigen::MatrixXd controls = Eigen::MatrixXd::Zero(12, 3);
  for (int i = 0; i < 12; ++i) {
    if (family[static_cast<std::size_t>(i)] > 0) controls(i, family[static_cast<std::size_t>(i)] - 1) = 1.0;
  }
  std::vector<double> dx(12), dy(12);
  for (int f = 0; f < 3; ++f) {
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < 12; ++i) {
      if (family[i] == f) mx += x[i] / 4, my += y[i] / 4;
    }
    for (std::size_t i = 0; i < 12; ++i) {
      if (family[i] == f) dx[i] = x[i] - mx, dy[i] = y[i] - my;
    }
  }
  const auto c = partial_pearson(x, y, controls);
  EXPECT_NEAR(c.r, naive_pearson(dx, dy), 1e-12);
  EXPECT_EQ(control_rank(controls), 2u);
  EXPECT_DOUBLE_EQ(c.df, 12.0 - 2.0 - 2.0);
}

TEST(StatsTest, PartialSpearmanIsPartialPearsonOfRanks) {
  const std::vector<double> x = {1, 4, 2, 8, 5, 7, 3, 9, 6, 10};
  const std::vector<double> y = {2, 3, 1, 9, 4, 8, 3, 10, 7, 6};
  const std::vector<double> z = {100, 900, 200, 5000, 300, 700, 150, 9000, 800, 1000};
  Eigen::MatrixXd zc(10, 1), zr(10, 1);
  const auto rz = naive_ranks(z);
  for (int i = 0; i < 10; ++i) zc(i, 0) = z[static_cast<std::size_t>(i)], zr(i, 0) = rz[static_cast<std::size_t>(i)];
  const auto c = partial_spearman(x, y, zc);
  const auto ref = partial_pearson(naive_ranks(x), naive_ranks(y), zr);
  EXPECT_NEAR(c.r, ref.r, 1e-12);
  EXPECT_NEAR(c.p, ref.p, 1e-12);
}

TEST(StatsTest, PartialCorrelationIsNaNWhenControlsExplainEverything) {
  const std::vector<double> x = {1, 2, 3, 4};
  const std::vector<double> y = {2, 1, 4, 3};
  Eigen::MatrixXd controls(4, 1);
  controls << 1, 2, 3, 4;  // x is exactly linear in the control
  const auto c = partial_pearson(x, y, controls);
  EXPECT_TRUE(std::isnan(c.r));
  Eigen::MatrixXd many(4, 2);
  many << 1, 0, 2, 1, 0, 1, 5, 0;
  EXPECT_TRUE(std::isnan(partial_pearson(x, y, many).r));  // df = 4 - 2 - 2 = 0
}

TEST(StatsTest, SplitMix64MatchesItsPublishedSequence) {
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ULL);
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) {
    const auto v = a.uniform_index(7);
    EXPECT_EQ(v, b.uniform_index(7));
    EXPECT_LT(v, 7u);
  }
}

TEST(StatsTest, QuantileInterpolatesLikeRType7) {
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.0), 1.0);
}

TEST(StatsTest, BootstrapOfTheMeanIsSeededAndCloseToNormalTheory) {
  std::vector<double> data;
  Rng gen(7);
  for (int i = 0; i < 400; ++i) data.push_back(static_cast<double>(gen.uniform_index(1000)) / 1000.0);
  auto mean_of = [&](std::span<const std::size_t> idx) {
    double s = 0;
    for (auto i : idx) s += data[i];
    return s / static_cast<double>(idx.size());
  };
  const auto a = bootstrap_interval(data.size(), mean_of, 2000, 11);
  const auto b = bootstrap_interval(data.size(), mean_of, 2000, 11);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  double m = 0, ss = 0;
  for (double v : data) m += v / 400.0;
  for (double v : data) ss += (v - m) * (v - m);
  const double se = std::sqrt(ss / 399.0 / 400.0);
  // Percentile interval of a mean of 400 uniforms: within 10% of +-1.96 se.
  EXPECT_NEAR(a.low, m - 1.96 * se, 0.2 * 1.96 * se);
  EXPECT_NEAR(a.high, m + 1.96 * se, 0.2 * 1.96 * se);
}

TEST(StatsTest, BootstrapIsNaNWhenMostResamplesAreUndefined) {
  const auto ci = bootstrap_interval(10, [](std::span<const std::size_t>) { return kNaN; }, 100, 1);
  EXPECT_TRUE(std::isnan(ci.low));
  EXPECT_TRUE(std::isnan(ci.high));
}

}  // namespace
}  // namespace ibzoo::analysis
