// OLS/ridge against a direct solve of the normal equations, cross-validation against
// a hand-written loop, the simple fit against Anscombe's published line.
#include "analysis/regression.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ibzoo::analysis {
namespace {

Eigen::MatrixXd design() {
  Eigen::MatrixXd x(8, 2);
  x << 1.0, 3.0, 2.0, 1.0, 3.0, 4.0, 4.0, 1.5, 5.0, 6.0, 6.0, 2.0, 7.0, 7.5, 8.0, 3.0;
  return x;
}

Eigen::VectorXd target() {
  Eigen::VectorXd y(8);
  y << 4.1, 3.9, 7.2, 6.1, 10.8, 8.2, 13.9, 10.1;
  return y;
}

TEST(RegressionTest, OlsPredictionsMatchTheNormalEquationsWithAnInterceptColumn) {
  const Eigen::MatrixXd x = design();
  const Eigen::VectorXd y = target();
  Eigen::MatrixXd a(8, 3);
  a.col(0).setOnes();
  a.rightCols(2) = x;
  const Eigen::VectorXd beta = (a.transpose() * a).inverse() * (a.transpose() * y);
  const auto model = fit_linear(x, y, 0.0);
  Eigen::MatrixXd x0(2, 2);
  x0 << 2.5, 2.5, 9.0, 1.0;
  const Eigen::VectorXd p = predict(model, x0);
  EXPECT_NEAR(p(0), beta(0) + 2.5 * beta(1) + 2.5 * beta(2), 1e-10);
  EXPECT_NEAR(p(1), beta(0) + 9.0 * beta(1) + 1.0 * beta(2), 1e-10);
}

TEST(RegressionTest, RidgeMatchesTheClosedFormOnStandardisedColumns) {
  const Eigen::MatrixXd x = design();
  const Eigen::VectorXd y = target();
  const double lambda = 2.0;
  Eigen::MatrixXd xs = x;
  for (int j = 0; j < 2; ++j) {
    const double m = x.col(j).mean();
    const double sd = std::sqrt((x.col(j).array() - m).square().sum() / 7.0);
    xs.col(j) = (x.col(j).array() - m) / sd;
  }
  const Eigen::VectorXd yc = y.array() - y.mean();
  const Eigen::MatrixXd g = xs.transpose() * xs + lambda * Eigen::MatrixXd::Identity(2, 2);
  const Eigen::VectorXd b = g.inverse() * xs.transpose() * yc;
  const auto model = fit_linear(x, y, lambda);
  EXPECT_NEAR(model.coef(0), b(0), 1e-12);
  EXPECT_NEAR(model.coef(1), b(1), 1e-12);
  EXPECT_NEAR(model.intercept, y.mean(), 1e-12);
}

TEST(RegressionTest, ConstantColumnsAndInterceptOnlyModelsAreHandled) {
  Eigen::MatrixXd x(4, 1);
  x << 2, 2, 2, 2;
  Eigen::VectorXd y(4);
  y << 1, 2, 3, 6;
  const auto m = fit_linear(x, y, 0.0);
  EXPECT_NEAR(predict(m, x)(0), 3.0, 1e-12);
  const auto m0 = fit_linear(Eigen::MatrixXd(4, 0), y, 0.0);
  EXPECT_DOUBLE_EQ(predict(m0, Eigen::MatrixXd(2, 0))(1), 3.0);
}

TEST(RegressionTest, RSquaredAndMaeFollowTheirDefinitions) {
  Eigen::VectorXd y(4), p(4);
  y << 1, 2, 3, 4;
  p << 1.5, 2, 2, 4;
  EXPECT_DOUBLE_EQ(r_squared(y, p), 1.0 - 1.25 / 5.0);
  EXPECT_DOUBLE_EQ(mean_absolute_error(y, p), 1.5 / 4.0);
  EXPECT_TRUE(std::isnan(r_squared(Eigen::VectorXd::Ones(3), Eigen::VectorXd::Ones(3))));
}

TEST(RegressionTest, LeaveOneGroupOutInterceptOnlyPredictsTheOtherGroupsMean) {
  Eigen::VectorXd y(6);
  y << 1, 3, 10, 12, 20, 30;
  const std::vector<std::string> g = {"a", "a", "b", "b", "c", "c"};
  const auto cv = leave_one_group_out(Eigen::MatrixXd(6, 0), y, g, 0.0);
  // Hand loop: held-out a -> mean(b, c) = 18; b -> mean(a, c) = 13.5; c -> mean(a, b) = 6.5.
  const std::vector<double> expected = {18, 18, 13.5, 13.5, 6.5, 6.5};
  double sse = 0, sae = 0;
  for (int i = 0; i < 6; ++i) {
    EXPECT_DOUBLE_EQ(cv.predictions(i), expected[static_cast<std::size_t>(i)]);
    sse += std::pow(y(i) - expected[static_cast<std::size_t>(i)], 2);
    sae += std::abs(y(i) - expected[static_cast<std::size_t>(i)]);
  }
  const double sst = (y.array() - y.mean()).square().sum();
  EXPECT_NEAR(cv.r2, 1 - sse / sst, 1e-12);
  EXPECT_NEAR(cv.mae, sae / 6, 1e-12);
  ASSERT_EQ(cv.folds.size(), 3u);
  EXPECT_EQ(cv.folds[1].group, "b");
  EXPECT_EQ(cv.folds[1].n_train, 4u);
  EXPECT_NEAR(cv.folds[1].sse, std::pow(10 - 13.5, 2) + std::pow(12 - 13.5, 2), 1e-12);
}

TEST(RegressionTest, LeaveOneGroupOutOlsMatchesRefittingByHand) {
  const Eigen::MatrixXd x = design();
  const Eigen::VectorXd y = target();
  const std::vector<std::string> g = {"p", "p", "q", "q", "q", "r", "r", "r"};
  const auto cv = leave_one_group_out(x, y, g, 0.0);
  // Fold q by hand: train on rows 0,1,5,6,7.
  const std::vector<int> train = {0, 1, 5, 6, 7};
  Eigen::MatrixXd a(5, 3);
  Eigen::VectorXd yt(5);
  for (int i = 0; i < 5; ++i) {
    a(i, 0) = 1;
    a.block(i, 1, 1, 2) = x.row(train[static_cast<std::size_t>(i)]);
    yt(i) = y(train[static_cast<std::size_t>(i)]);
  }
  const Eigen::VectorXd b = (a.transpose() * a).inverse() * a.transpose() * yt;
  for (int i : {2, 3, 4}) EXPECT_NEAR(cv.predictions(i), b(0) + b(1) * x(i, 0) + b(2) * x(i, 1), 1e-9);
  EXPECT_EQ(cv.n, 8u);
}

TEST(RegressionTest, CrossValidationNeedsTwoGroups) {
  const auto cv = leave_one_group_out(design(), target(), std::vector<std::string>(8, "only"), 0.0);
  EXPECT_TRUE(std::isnan(cv.r2));
  EXPECT_EQ(cv.n_folds, 0u);
}

TEST(RegressionTest, SimpleFitReproducesAnscombesLineAndTheBandFormula) {
  Eigen::VectorXd x(11), y(11);
  x << 10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5;
  y << 8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68;
  const auto f = fit_simple(x, y);
  ASSERT_TRUE(f.valid);
  EXPECT_NEAR(f.intercept, 3.0001, 1e-4);  // published: y = 3.00 + 0.500 x
  EXPECT_NEAR(f.slope, 0.5001, 1e-4);
  EXPECT_NEAR(f.sigma, 1.237, 1e-3);       // R summary(lm): residual standard error 1.237 on 9 df
  const auto [lo, hi] = confidence_band(f, 9.0);
  // At x0 = xbar the band is yhat -+ t_{9,0.975} s / sqrt(n), t = 2.262157.
  const double half = 2.2621571628 * f.sigma / std::sqrt(11.0);
  EXPECT_NEAR(lo, f.intercept + 9.0 * f.slope - half, 1e-8);
  EXPECT_NEAR(hi, f.intercept + 9.0 * f.slope + half, 1e-8);
  EXPECT_FALSE(fit_simple(x.head(2), y.head(2)).valid);
}

}  // namespace
}  // namespace ibzoo::analysis
