#include "analysis/calibration.h"
#include "errors/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ibzoo::analysis {
namespace {

// Direct power series of I_nu(x) in long double, scaled by e^-x.
double naive_log_bessel_i_scaled(double nu, double x) {
  long double sum = 0.0L;
  long double term = std::pow(0.5L * x, static_cast<long double>(nu)) / std::tgamma(static_cast<long double>(nu) + 1.0L);
  for (int j = 0; j < 400; ++j) {
    sum += term;
    term *= (0.25L * x * x) / ((j + 1.0L) * (nu + j + 1.0L));
  }
  return static_cast<double>(std::log(sum) - x);
}

TEST(CalibrationTest, BoundsMatchesDesignValuesForHundredBins) {
  EXPECT_NEAR(calibrate_eps(Calibration::kBounds, 100, 64), 0.036230, 5e-7);
  EXPECT_NEAR(calibrate_eps(Calibration::kBounds, 100, 128), 0.027348, 5e-7);
  EXPECT_NEAR(calibrate_eps(Calibration::kBounds, 100, 2048), 0.0072530, 5e-8);
  EXPECT_NEAR(calibrate_eps(Calibration::kBounds, 100, 4096), 0.0051386, 5e-8);
}

TEST(CalibrationTest, BoundsRootSolvesTheLowerEnvelope) {
  const double eps = calibrate_eps(Calibration::kBounds, 50, 256);
  EXPECT_NEAR(kl_lower_bound(eps, 256), std::log(50.0), 1e-10);
}

TEST(CalibrationTest, ScaledBesselMatchesDirectSeries) {
  for (const double nu : {0.5, 1.0, 7.0, 31.0}) {
    for (const double x : {0.3, 2.0, 27.6, 90.0}) {
      EXPECT_NEAR(log_bessel_i_scaled(nu, x), naive_log_bessel_i_scaled(nu, x), 1e-11) << nu << " " << x;
    }
  }
}

TEST(CalibrationTest, ScaledBesselStaysFiniteBeyondOverflow) {
  // I_3(2000) overflows a double; the scaled log approaches -0.5 log(2 pi x).
  const double v = log_bessel_i_scaled(3.0, 2000.0);
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(v, -0.5 * std::log(2.0 * M_PI * 2000.0) + std::log(1.0 - 35.0 / 16000.0), 1e-5);
  // continuity at the switch point
  EXPECT_NEAR(log_bessel_i_scaled(5.0, 499.999), log_bessel_i_scaled(5.0, 500.0), 1e-5);
}

TEST(CalibrationTest, ExactRootSolvesExactKlAndIsAtLeastTheConservativeBound) {
  for (const std::int64_t d : {3, 16, 64}) {
    const double eps = calibrate_eps(Calibration::kExact, 100, d);
    EXPECT_NEAR(kl_exact(eps, d), std::log(100.0), 1e-9) << d;
    EXPECT_GE(eps, calibrate_eps(Calibration::kBounds, 100, d) * (1 - 1e-12)) << d;
  }
}

TEST(CalibrationTest, ExactKlAgreesWithSeriesDefinition) {
  const double eps = 0.2;
  const int d = 10;
  const double nu = d / 2.0 - 1.0;
  const double k = 1.0 / eps;
  const double a = std::exp(naive_log_bessel_i_scaled(nu + 1, k) - naive_log_bessel_i_scaled(nu, k));
  const double log_z = nu * std::log(2 * eps) + std::lgamma(d / 2.0) + naive_log_bessel_i_scaled(nu, k) + k;
  EXPECT_NEAR(kl_exact(eps, d), a / eps - log_z, 1e-10);
}

TEST(CalibrationTest, LeadingAndGiven) {
  EXPECT_DOUBLE_EQ(calibrate_eps(Calibration::kLeading, 100, 256), 1.0 / std::sqrt(2.0 * 256 * std::log(100.0)));
  EXPECT_DOUBLE_EQ(calibrate_eps(Calibration::kGiven, 100, 256, 0.05), 0.05);
}

TEST(CalibrationTest, RejectsImpossibleSettingsWithClearMessages) {
  try {
    calibrate_eps(Calibration::kBounds, 100, 2);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("dimension > 2"), std::string::npos) << e.what();
  }
  try {
    calibrate_eps(Calibration::kGiven, 100, 8);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--eps"), std::string::npos) << e.what();
  }
  EXPECT_THROW(calibrate_eps(Calibration::kBounds, 1, 64), UsageError);
  try {
    parse_calibration("auto");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'auto'"), std::string::npos);
  }
  EXPECT_EQ(parse_calibration(to_string(Calibration::kExact)), Calibration::kExact);
}

}  // namespace
}  // namespace ibzoo::analysis
