#include "analysis/regression.h"

#include "errors/check.h"
#include "analysis/stats.h"

#include <boost/math/distributions/students_t.hpp>

#include <cmath>
#include <map>

namespace ibzoo::analysis {

namespace {

Eigen::MatrixXd rows_of(const Eigen::MatrixXd& m, const std::vector<Eigen::Index>& idx) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(idx.size()), m.cols());
  for (std::size_t i = 0; i < idx.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = m.row(idx[i]);
  return out;
}

Eigen::VectorXd entries_of(const Eigen::VectorXd& v, const std::vector<Eigen::Index>& idx) {
  Eigen::VectorXd out(static_cast<Eigen::Index>(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) out(static_cast<Eigen::Index>(i)) = v(idx[i]);
  return out;
}

Eigen::MatrixXd standardise(const LinearModel& model, const Eigen::MatrixXd& x) {
  return (x.rowwise() - model.mean.transpose()).array().rowwise() / model.scale.transpose().array();
}

}  // namespace

LinearModel fit_linear(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double ridge_lambda) {
  IBZOO_CHECK(x.rows() == y.size() && y.size() > 0, "x " << x.rows() << " rows, y " << y.size());
  IBZOO_CHECK(ridge_lambda >= 0.0, ridge_lambda);
  LinearModel m;
  const auto n = static_cast<double>(x.rows());
  m.mean = x.colwise().mean().transpose();
  m.scale = Eigen::VectorXd::Ones(x.cols());
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    const double ss = (x.col(j).array() - m.mean(j)).square().sum();
    const double sd = n > 1 ? std::sqrt(ss / (n - 1.0)) : 0.0;
    if (sd > 0.0) m.scale(j) = sd;
  }
  m.intercept = y.mean();
  if (x.cols() == 0) {
    m.coef.resize(0);
    return m;
  }
  const Eigen::MatrixXd xs = standardise(m, x);
  const Eigen::VectorXd yc = y.array() - m.intercept;
  if (ridge_lambda == 0.0) {
    m.coef = Eigen::CompleteOrthogonalDecomposition<Eigen::MatrixXd>(xs).solve(yc);
  } else {
    Eigen::MatrixXd gram = xs.transpose() * xs;
    gram.diagonal().array() += ridge_lambda;
    m.coef = gram.ldlt().solve(xs.transpose() * yc);
  }
  return m;
}

Eigen::VectorXd predict(const LinearModel& model, const Eigen::MatrixXd& x) {
  IBZOO_CHECK(x.cols() == model.coef.size(), x.cols() << " vs " << model.coef.size());
  if (x.cols() == 0) return Eigen::VectorXd::Constant(x.rows(), model.intercept);
  return (standardise(model, x) * model.coef).array() + model.intercept;
}

double r_squared(const Eigen::VectorXd& y, const Eigen::VectorXd& y_hat) {
  IBZOO_CHECK(y.size() == y_hat.size());
  if (y.size() == 0) return kNaN;
  const double sst = (y.array() - y.mean()).square().sum();
  if (sst <= 0.0) return kNaN;
  return 1.0 - (y - y_hat).squaredNorm() / sst;
}

double mean_absolute_error(const Eigen::VectorXd& y, const Eigen::VectorXd& y_hat) {
  IBZOO_CHECK(y.size() == y_hat.size());
  if (y.size() == 0) return kNaN;
  return (y - y_hat).cwiseAbs().mean();
}

CvResult leave_one_group_out(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                             const std::vector<std::string>& groups, double ridge_lambda) {
  IBZOO_CHECK(x.rows() == y.size() && groups.size() == static_cast<std::size_t>(y.size()));
  std::map<std::string, std::vector<Eigen::Index>> members;  // sorted: deterministic fold order
  for (std::size_t i = 0; i < groups.size(); ++i) members[groups[i]].push_back(static_cast<Eigen::Index>(i));
  CvResult cv;
  cv.predictions = Eigen::VectorXd::Constant(y.size(), kNaN);
  cv.r2 = kNaN;
  cv.mae = kNaN;
  if (members.size() < 2) return cv;
  for (const auto& [group, test] : members) {
    std::vector<Eigen::Index> train;
    for (Eigen::Index i = 0; i < y.size(); ++i) {
      if (groups[static_cast<std::size_t>(i)] != group) train.push_back(i);
    }
    if (train.size() < 2) continue;
    const auto model = fit_linear(rows_of(x, train), entries_of(y, train), ridge_lambda);
    const Eigen::VectorXd pred = predict(model, rows_of(x, test));
    const Eigen::VectorXd truth = entries_of(y, test);
    for (std::size_t i = 0; i < test.size(); ++i) cv.predictions(test[i]) = pred(static_cast<Eigen::Index>(i));
    cv.folds.push_back({group, train.size(), test.size(), mean_absolute_error(truth, pred), (truth - pred).squaredNorm()});
  }
  std::vector<Eigen::Index> done;
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    if (!std::isnan(cv.predictions(i))) done.push_back(i);
  }
  cv.n = done.size();
  cv.n_folds = cv.folds.size();
  if (cv.n_folds < 2) return cv;
  const Eigen::VectorXd yt = entries_of(y, done);
  const Eigen::VectorXd yp = entries_of(cv.predictions, done);
  cv.r2 = r_squared(yt, yp);
  cv.mae = mean_absolute_error(yt, yp);
  return cv;
}

SimpleFit fit_simple(const Eigen::VectorXd& x, const Eigen::VectorXd& y, double level) {
  IBZOO_CHECK(x.size() == y.size());
  SimpleFit f;
  f.n = static_cast<std::size_t>(x.size());
  if (f.n < 3) return f;
  f.x_mean = x.mean();
  const Eigen::VectorXd dx = x.array() - f.x_mean;
  f.sxx = dx.squaredNorm();
  if (f.sxx <= 0.0) return f;
  f.slope = dx.dot(y.array().matrix() - Eigen::VectorXd::Constant(y.size(), y.mean())) / f.sxx;
  f.intercept = y.mean() - f.slope * f.x_mean;
  const Eigen::VectorXd resid = y.array() - (f.intercept + f.slope * x.array());
  const double df = static_cast<double>(f.n) - 2.0;
  f.sigma = std::sqrt(resid.squaredNorm() / df);
  f.t_crit = boost::math::quantile(boost::math::students_t(df), 0.5 + level / 2.0);
  f.valid = true;
  return f;
}

std::pair<double, double> confidence_band(const SimpleFit& fit, double x0) {
  IBZOO_CHECK(fit.valid);
  const double y0 = fit.intercept + fit.slope * x0;
  const double d = x0 - fit.x_mean;
  const double half = fit.t_crit * fit.sigma * std::sqrt(1.0 / static_cast<double>(fit.n) + d * d / fit.sxx);
  return {y0 - half, y0 + half};
}

}  // namespace ibzoo::analysis
