// Correlation statistics for the cross-family analysis: Pearson and Spearman with
// t-distribution p-values, partial correlations on control variables, Fisher-z and
// percentile-bootstrap confidence intervals, and a portable seeded generator.
// Pure math: inputs are complete (no NaN) paired samples; callers drop missing pairs.
// docs/ANALYSIS.md gives every formula.
#pragma once

#include <Eigen/Dense>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace ibzoo::analysis {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A correlation coefficient with its two-sided p-value.
// n: number of pairs used; df: degrees of freedom of the t statistic
// (n - 2 - k, k = number of independent control columns); NaN r/p when undefined.
struct Correlation {
  std::size_t n = 0;
  double df = 0.0;
  double r = kNaN;
  double p = kNaN;
};

struct Interval {
  double low = kNaN;
  double high = kNaN;
};

// Ranks 1..n; tied values get the average of the ranks they span.
std::vector<double> average_ranks(std::span<const double> x);

// Two-sided p-value of a correlation r with df degrees of freedom:
// t = r sqrt(df / (1 - r^2)), p = 2 P(T_df > |t|). NaN if df < 1 or r is NaN.
double correlation_p_value(double r, double df);

// Pearson's r (two-pass). NaN r/p when n < 3 or either sample is constant.
Correlation pearson(std::span<const double> x, std::span<const double> y);
// Spearman's rho = Pearson's r of the average ranks; p as for Pearson (df = n - 2),
// as scipy.stats.spearmanr and R's cor.test(method = "spearman", exact = FALSE).
Correlation spearman(std::span<const double> x, std::span<const double> y);

// Residuals of the least-squares fit of y on [1, controls] (rank-revealing QR, so
// collinear or constant control columns are harmless).
Eigen::VectorXd residualise(const Eigen::VectorXd& y, const Eigen::MatrixXd& controls);
// Number of independent control columns once the intercept is accounted for:
// rank([1, controls]) - 1.
std::size_t control_rank(const Eigen::MatrixXd& controls);

// Partial correlation of x and y given the control columns (one row per pair):
// residualise both on [1, controls], correlate the residuals, df = n - 2 - k with
// k = control_rank(controls). NaN r/p when df < 1.
Correlation partial_pearson(std::span<const double> x, std::span<const double> y, const Eigen::MatrixXd& controls);
// The same on ranks: x, y and every control column are replaced by average ranks
// (as pingouin.partial_corr(method="spearman") does).
Correlation partial_spearman(std::span<const double> x, std::span<const double> y, const Eigen::MatrixXd& controls);

// Fisher-z interval: tanh(atanh(r) -+ z_{(1+level)/2} / sqrt(n - 3 - n_controls)).
// NaN when n - 3 - n_controls < 1 or r is NaN.
Interval fisher_z_interval(double r, std::size_t n, std::size_t n_controls, double level = 0.95);

// Quantile of sorted data with linear interpolation (R type 7, numpy's default).
double quantile_sorted(std::span<const double> sorted, double q);

// SplitMix64: a tiny generator whose output is identical on every platform and build
// (unlike std:: distributions). uniform_index draws from [0, n) without modulo bias.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  std::size_t uniform_index(std::size_t n);

 private:
  std::uint64_t state_;
};

// Percentile bootstrap: n_resamples resamples of the n cases with replacement, the
// statistic evaluated on each (given the resampled indices), the (1-level)/2 and
// (1+level)/2 type-7 quantiles of the finite values. Resamples whose statistic is
// NaN (e.g. a constant resample) are skipped; if fewer than half are finite the
// interval is NaN.
Interval bootstrap_interval(std::size_t n, const std::function<double(std::span<const std::size_t>)>& statistic,
                            std::size_t n_resamples, std::uint64_t seed, double level = 0.95);

}  // namespace ibzoo::analysis
