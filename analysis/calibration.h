// Temperature calibration of the soft-entropy estimator: the eps for which
// KL(vMF(1/eps) || uniform on S^{d-1}) = log m (DESIGN.md section 1, step 5).
// Pure math; no files. Throws UsageError for impossible (m, d) combinations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ibzoo::analysis {

enum class Calibration {
  kBounds,   // Brent-type root of the Amos lower envelope on [1e-5, 1] (reference default)
  kExact,    // root of the exact KL through Bessel functions (small d only)
  kLeading,  // eps = 1 / sqrt(2 d log m)
  kGiven,    // eps supplied by the user
};

std::string to_string(Calibration calibration);
// Parses "bounds", "exact", "leading" or "given". Throws UsageError naming the value.
Calibration parse_calibration(const std::string& text);

// The Amos-bound lower envelope of the KL (the `bounds` target). Needs d > 2.
double kl_lower_bound(double eps, std::int64_t dim);
// The exact KL = A_nu(1/eps)/eps - log Z_d(eps). Returns NaN where the Bessel
// functions cannot be evaluated (very large d at small eps).
double kl_exact(double eps, std::int64_t dim);

// log I_nu(x) - x (log of the exponentially scaled modified Bessel function of
// the first kind), for nu >= 0, x > 0: Boost.Math's cyl_bessel_i below x = 500,
// a log-space power series above it or wherever I_nu under/overflows a double.
double log_bessel_i_scaled(double nu, double x);

// The temperature for n_bins reference points in dimension dim. For kGiven,
// `given_eps` must be set and > 0. Throws UsageError (bounds with dim <= 2,
// n_bins < 2, no root in [1e-5, 1], exact KL not computable at this dim).
double calibrate_eps(Calibration calibration, std::int64_t n_bins, std::int64_t dim,
                     std::optional<double> given_eps = std::nullopt);

}  // namespace ibzoo::analysis
