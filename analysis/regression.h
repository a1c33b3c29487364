// Linear regression for predicting benchmark scores from compression metrics:
// OLS and ridge on standardised predictors, leave-one-group-out cross-validation
// (groups = model families), and the simple one-predictor fit with its confidence
// band that the report draws. Pure math; docs/ANALYSIS.md gives the formulas.
#pragma once

#include <Eigen/Dense>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace ibzoo::analysis {

// y ~ intercept + sum_j coef_j (x_j - mean_j) / scale_j.
// Columns are standardised with the training mean and sample standard deviation
// (scale 1 for a constant column, whose coefficient is then 0). ridge_lambda = 0
// is OLS (minimum-norm solution if the design is rank deficient); ridge_lambda > 0
// minimises |y_c - X_s b|^2 + lambda |b|^2 (the intercept is not penalised).
struct LinearModel {
  double intercept = 0.0;
  Eigen::VectorXd coef;
  Eigen::VectorXd mean;
  Eigen::VectorXd scale;
};

LinearModel fit_linear(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double ridge_lambda);
Eigen::VectorXd predict(const LinearModel& model, const Eigen::MatrixXd& x);

// 1 - sum (y - yhat)^2 / sum (y - mean(y))^2. NaN if y is constant or empty.
double r_squared(const Eigen::VectorXd& y, const Eigen::VectorXd& y_hat);
double mean_absolute_error(const Eigen::VectorXd& y, const Eigen::VectorXd& y_hat);

struct CvFold {
  std::string group;     // the held-out group
  std::size_t n_train = 0;
  std::size_t n_test = 0;
  double mae = 0.0;      // on the held-out rows
  double sse = 0.0;
  bool operator==(const CvFold&) const = default;
};

// Leave-one-group-out cross-validation: for each group, fit on the other groups and
// predict the held-out rows. r2 = r_squared over the pooled out-of-fold predictions
// (the reference mean is the mean of all y, as sklearn's r2_score on
// cross_val_predict output); mae the same pooled. A fold whose training set has
// fewer than 2 rows is skipped. NaN r2/mae when fewer than 2 groups.
// x may have zero columns: the intercept-only baseline (predicts the training mean).
struct CvResult {
  std::size_t n = 0;        // rows with an out-of-fold prediction
  std::size_t n_folds = 0;  // folds evaluated
  double r2 = 0.0;
  double mae = 0.0;
  std::vector<CvFold> folds;
  Eigen::VectorXd predictions;  // per input row; NaN where not predicted
};
CvResult leave_one_group_out(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                             const std::vector<std::string>& groups, double ridge_lambda);

// Simple regression y = a + b x with the pointwise confidence band of the mean:
// yhat(x0) -+ t_{n-2,(1+level)/2} s sqrt(1/n + (x0 - xbar)^2 / Sxx), s^2 = SSE/(n-2).
// Valid (n >= 3 and x not constant) or not.
struct SimpleFit {
  bool valid = false;
  std::size_t n = 0;
  double intercept = 0.0;
  double slope = 0.0;
  double sigma = 0.0;   // residual standard error
  double x_mean = 0.0;
  double sxx = 0.0;
  double t_crit = 0.0;
};
SimpleFit fit_simple(const Eigen::VectorXd& x, const Eigen::VectorXd& y, double level = 0.95);
// {lower, upper} of the band at x0.
std::pair<double, double> confidence_band(const SimpleFit& fit, double x0);

}  // namespace ibzoo::analysis
