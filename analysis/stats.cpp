#include "analysis/stats.h"

#include "errors/check.h"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ibzoo::analysis {

namespace {

Eigen::VectorXd to_vector(std::span<const double> x) {
  Eigen::VectorXd v(static_cast<Eigen::Index>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) v(static_cast<Eigen::Index>(i)) = x[i];
  return v;
}

// Pearson's r of two equal-length vectors; NaN when either has zero variance.
double pearson_r(const Eigen::VectorXd& x, const Eigen::VectorXd& y) {
  const Eigen::VectorXd dx = x.array() - x.mean();
  const Eigen::VectorXd dy = y.array() - y.mean();
  const double sxx = dx.squaredNorm();
  const double syy = dy.squaredNorm();
  // Residuals of an exact fit are rounding noise, not variance.
  if (sxx <= 0.0 || syy <= 0.0) return kNaN;
  const double r = dx.dot(dy) / std::sqrt(sxx * syy);
  return std::clamp(r, -1.0, 1.0);
}

Correlation make_correlation(double r, std::size_t n, double df) {
  Correlation c;
  c.n = n;
  c.df = df;
  if (df < 1.0) return c;
  c.r = r;
  c.p = correlation_p_value(r, df);
  return c;
}

Eigen::MatrixXd with_intercept(const Eigen::MatrixXd& controls) {
  Eigen::MatrixXd a(controls.rows(), controls.cols() + 1);
  a.col(0).setOnes();
  a.rightCols(controls.cols()) = controls;
  return a;
}

Eigen::MatrixXd rank_columns(const Eigen::MatrixXd& m) {
  Eigen::MatrixXd out(m.rows(), m.cols());
  for (Eigen::Index j = 0; j < m.cols(); ++j) {
    const Eigen::VectorXd col = m.col(j);
    const auto r = average_ranks(std::span<const double>(col.data(), static_cast<std::size_t>(col.size())));
    for (Eigen::Index i = 0; i < m.rows(); ++i) out(i, j) = r[static_cast<std::size_t>(i)];
  }
  return out;
}

bool is_rounding_noise(const Eigen::VectorXd& residual, const Eigen::VectorXd& original) {
  const double scale = (original.array() - original.mean()).matrix().norm();
  return residual.norm() <= 1e-10 * scale || scale == 0.0;
}

Correlation partial_impl(const Eigen::VectorXd& x, const Eigen::VectorXd& y, const Eigen::MatrixXd& controls) {
  IBZOO_CHECK(x.size() == y.size() && controls.rows() == x.size(),
              "x " << x.size() << ", y " << y.size() << ", controls " << controls.rows());
  const auto n = static_cast<std::size_t>(x.size());
  if (n < 3) return make_correlation(kNaN, n, 0.0);
  const auto k = control_rank(controls);
  const double df = static_cast<double>(n) - 2.0 - static_cast<double>(k);
  const Eigen::VectorXd rx = residualise(x, controls);
  const Eigen::VectorXd ry = residualise(y, controls);
  // The controls explaining x or y exactly leave rounding noise, not a correlation.
  if (is_rounding_noise(rx, x) || is_rounding_noise(ry, y)) return make_correlation(kNaN, n, df);
  return make_correlation(pearson_r(rx, ry), n, df);
}

}  // namespace

std::vector<double> average_ranks(std::span<const double> x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    // Positions i..j (0-based) share ranks i+1..j+1: their mean.
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t t = i; t <= j; ++t) ranks[order[t]] = rank;
    i = j + 1;
  }
  return ranks;
}

double correlation_p_value(double r, double df) {
  if (std::isnan(r) || df < 1.0) return kNaN;
  if (std::abs(r) >= 1.0) return 0.0;
  const double t = std::abs(r) * std::sqrt(df / (1.0 - r * r));
  const boost::math::students_t dist(df);
  return std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(dist, t)));
}

Correlation pearson(std::span<const double> x, std::span<const double> y) {
  IBZOO_CHECK(x.size() == y.size(), x.size() << " vs " << y.size());
  const std::size_t n = x.size();
  if (n < 3) return make_correlation(kNaN, n, 0.0);
  return make_correlation(pearson_r(to_vector(x), to_vector(y)), n, static_cast<double>(n) - 2.0);
}

Correlation spearman(std::span<const double> x, std::span<const double> y) {
  IBZOO_CHECK(x.size() == y.size(), x.size() << " vs " << y.size());
  const auto rx = average_ranks(x);
  const auto ry = average_ranks(y);
  return pearson(rx, ry);
}

Eigen::VectorXd residualise(const Eigen::VectorXd& y, const Eigen::MatrixXd& controls) {
  IBZOO_CHECK(controls.rows() == y.size(), controls.rows() << " vs " << y.size());
  const Eigen::MatrixXd a = with_intercept(controls);
  const Eigen::CompleteOrthogonalDecomposition<Eigen::MatrixXd> cod(a);
  const Eigen::VectorXd beta = cod.solve(y);
  return y - a * beta;
}

std::size_t control_rank(const Eigen::MatrixXd& controls) {
  if (controls.rows() == 0) return 0;
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(with_intercept(controls));
  return static_cast<std::size_t>(qr.rank()) - 1;
}

Correlation partial_pearson(std::span<const double> x, std::span<const double> y, const Eigen::MatrixXd& controls) {
  IBZOO_CHECK(x.size() == y.size(), x.size() << " vs " << y.size());
  return partial_impl(to_vector(x), to_vector(y), controls);
}

Correlation partial_spearman(std::span<const double> x, std::span<const double> y, const Eigen::MatrixXd& controls) {
  IBZOO_CHECK(x.size() == y.size(), x.size() << " vs " << y.size());
  const auto rx = average_ranks(x);
  const auto ry = average_ranks(y);
  return partial_impl(to_vector(rx), to_vector(ry), rank_columns(controls));
}

Interval fisher_z_interval(double r, std::size_t n, std::size_t n_controls, double level) {
  const double dof = static_cast<double>(n) - 3.0 - static_cast<double>(n_controls);
  if (std::isnan(r) || dof < 1.0) return {};
  if (std::abs(r) >= 1.0) return {r, r};
  const double z = std::atanh(r);
  const double crit = boost::math::quantile(boost::math::normal(), 0.5 + level / 2.0);
  const double half = crit / std::sqrt(dof);
  return {std::tanh(z - half), std::tanh(z + half)};
}

double quantile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return kNaN;
  const double h = (static_cast<double>(sorted.size()) - 1.0) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::uint64_t Rng::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::size_t Rng::uniform_index(std::size_t n) {
  IBZOO_CHECK(n > 0);
  const auto range = static_cast<std::uint64_t>(n);
  // Reject the top partial block so every residue is equally likely.
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t x = next();
  while (x >= limit) x = next();
  return static_cast<std::size_t>(x % range);
}

Interval bootstrap_interval(std::size_t n, const std::function<double(std::span<const std::size_t>)>& statistic,
                            std::size_t n_resamples, std::uint64_t seed, double level) {
  if (n == 0 || n_resamples == 0) return {};
  Rng rng(seed);
  std::vector<std::size_t> idx(n);
  std::vector<double> values;
  values.reserve(n_resamples);
  for (std::size_t b = 0; b < n_resamples; ++b) {
    for (auto& i : idx) i = rng.uniform_index(n);
    const double v = statistic(idx);
    if (std::isfinite(v)) values.push_back(v);
  }
  if (2 * values.size() < n_resamples) return {};
  std::sort(values.begin(), values.end());
  return {quantile_sorted(values, 0.5 - level / 2.0), quantile_sorted(values, 0.5 + level / 2.0)};
}

}  // namespace ibzoo::analysis
