// Temperature calibration: three published recipes for eps and a user value.
// The root finder is TOMS 748 (Boost.Math), a bracketing method like the
// reference's Brent; both converge to the same root within 1e-15 relative.
#include "analysis/calibration.h"

#include "errors/error.h"

#include <boost/math/special_functions/bessel.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/tools/roots.hpp>

#include <cmath>
#include <functional>
#include <numbers>
#include <sstream>

namespace ibzoo::analysis {
namespace {

constexpr double kEpsLow = 1e-5;
constexpr double kEpsHigh = 1.0;
// Below this argument Boost's cyl_bessel_i (unscaled) stays finite; above it, or
// where it under/overflows, the log-space power series takes over.
constexpr double kSeriesFrom = 500.0;

double amos_g(double alpha, double beta, double kappa) {
  return kappa / (alpha + std::sqrt(kappa * kappa + beta * beta));
}

double phi_plus(double eps, double dim) {
  const double nu = dim / 2.0 - 1.0;
  const double inv = 1.0 / eps;
  const double root = std::sqrt(inv * inv + nu * nu);
  return root - nu + nu * std::log((dim - 2.0) / (nu + root));
}

// Power series in log space: I_nu(x) = sum_j (x/2)^(2j+nu) / (j! Gamma(nu+j+1)), its terms
// summed relative to the largest one (near j = (sqrt(nu^2 + x^2) - nu) / 2), so nothing overflows.
double log_bessel_i_scaled_series(double nu, double x) {
  const double log_half_x = std::log(0.5 * x);
  const auto log_term = [&](double j) {
    return (2.0 * j + nu) * log_half_x - std::lgamma(j + 1.0) - std::lgamma(nu + j + 1.0);
  };
  const double j_peak = std::floor(0.5 * (std::sqrt(nu * nu + x * x) - nu));
  const double log_peak = log_term(j_peak);
  double sum = 0.0;
  for (double j = j_peak; j >= 0.0; j -= 1.0) {
    const double r = std::exp(log_term(j) - log_peak);
    sum += r;
    if (r < 1e-18) break;
  }
  for (double j = j_peak + 1.0;; j += 1.0) {
    const double r = std::exp(log_term(j) - log_peak);
    sum += r;
    if (r < 1e-18) break;
  }
  return log_peak + std::log(sum) - x;
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

double solve_decreasing(const std::function<double(double)>& kl, double target, const std::string& what) {
  const double f_low = kl(kEpsLow) - target;
  const double f_high = kl(kEpsHigh) - target;
  if (!(f_low > 0.0) || !(f_high < 0.0)) {
    throw UsageError("calibration " + what + ": KL(eps) - log m has no sign change on [1e-5, 1] (KL(1e-5) = " +
                     fmt(f_low + target) + ", KL(1) = " + fmt(f_high + target) + ", log m = " + fmt(target) +
                     "); use --calibration bounds or leading, or give --eps");
  }
  boost::math::tools::eps_tolerance<double> tol(52);
  std::uintmax_t max_iter = 200;
  const auto [lo, hi] = boost::math::tools::toms748_solve(
      [&](double e) { return kl(e) - target; }, kEpsLow, kEpsHigh, f_low, f_high, tol, max_iter);
  return 0.5 * (lo + hi);
}

}  // namespace

std::string to_string(Calibration calibration) {
  switch (calibration) {
    case Calibration::kBounds: return "bounds";
    case Calibration::kExact: return "exact";
    case Calibration::kLeading: return "leading";
    case Calibration::kGiven: return "given";
  }
  return "unknown";
}

Calibration parse_calibration(const std::string& text) {
  if (text == "bounds") return Calibration::kBounds;
  if (text == "exact") return Calibration::kExact;
  if (text == "leading") return Calibration::kLeading;
  if (text == "given") return Calibration::kGiven;
  throw UsageError("calibration must be one of bounds, exact, leading, given; got '" + text + "'");
}

double kl_lower_bound(double eps, std::int64_t dim) {
  const auto d = static_cast<double>(dim);
  return amos_g(d / 2.0, d / 2.0, 1.0 / eps) / eps - phi_plus(eps, d);
}

double log_bessel_i_scaled(double nu, double x) {
  if (x < kSeriesFrom) {
    try {
      const double value = boost::math::cyl_bessel_i(nu, x);
      if (value > 0.0 && std::isfinite(value)) return std::log(value) - x;
    } catch (const std::exception&) {
      // out of Boost's range: the series below handles it
    }
  }
  return log_bessel_i_scaled_series(nu, x);
}

double kl_exact(double eps, std::int64_t dim) {
  const auto d = static_cast<double>(dim);
  const double nu = d / 2.0 - 1.0;
  const double kappa = 1.0 / eps;
  const double log_i_nu = log_bessel_i_scaled(nu, kappa);
  const double amos_ratio = std::exp(log_bessel_i_scaled(nu + 1.0, kappa) - log_i_nu);
  const double log_z = nu * std::log(2.0 * eps) + std::lgamma(d / 2.0) + (log_i_nu + kappa);
  return amos_ratio / eps - log_z;
}

double calibrate_eps(Calibration calibration, std::int64_t n_bins, std::int64_t dim, std::optional<double> given_eps) {
  if (n_bins < 2) throw UsageError("number of reference points (bins) must be >= 2, got " + std::to_string(n_bins));
  if (dim < 2) throw UsageError("representation dimension must be >= 2, got " + std::to_string(dim));
  const double target = std::log(static_cast<double>(n_bins));
  switch (calibration) {
    case Calibration::kGiven:
      if (!given_eps || !(*given_eps > 0.0) || !std::isfinite(*given_eps)) {
        throw UsageError("calibration 'given' needs a finite eps > 0 (--eps)");
      }
      return *given_eps;
    case Calibration::kLeading:
      return 1.0 / std::sqrt(2.0 * static_cast<double>(dim) * target);
    case Calibration::kBounds:
      if (dim <= 2) {
        throw UsageError("calibration 'bounds' needs dimension > 2 (the Amos envelope is singular at d = 2), got d = " +
                         std::to_string(dim) + "; use --calibration exact or leading");
      }
      return solve_decreasing([dim](double e) { return kl_lower_bound(e, dim); }, target, "bounds");
    case Calibration::kExact: {
      const double eps = solve_decreasing([dim](double e) { return kl_exact(e, dim); }, target, "exact");
      if (!std::isfinite(eps)) {
        throw UsageError("calibration 'exact' cannot evaluate the Bessel functions at d = " + std::to_string(dim) +
                         "; use --calibration bounds");
      }
      return eps;
    }
  }
  return 0.0;
}

}  // namespace ibzoo::analysis
