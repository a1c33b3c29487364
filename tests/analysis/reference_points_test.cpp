#include "errors/error.h"
#include "analysis/reference_points.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ibzoo::analysis {
namespace {

TEST(ReferencePointsTest, PortableLogMatchesLibm) {
  for (const double x : {1e-300, 1e-9, 0.1, 0.5, 0.70710678, 0.99999, 1.0, 1.5, 2.0, 1234.5, 1e300}) {
    EXPECT_NEAR(portable_log(x), std::log(x), 4e-16 * std::max(1.0, std::abs(std::log(x)))) << x;
  }
}

TEST(ReferencePointsTest, SplitMixMatchesPublishedSequence) {
  // First outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64(0x9E3779B97F4A7C15ULL), 0x6E789E6AA1B965F4ULL);
}

TEST(ReferencePointsTest, RowsAreUnitAndDependOnlyOnSeedAndShape) {
  const auto a = generate_reference_points(7, 20, 33);
  const auto b = generate_reference_points(7, 20, 33);
  const auto c = generate_reference_points(8, 20, 33);
  EXPECT_EQ(a.w, b.w);
  EXPECT_NE(a.w, c.w);
  EXPECT_EQ(checksum(a), checksum(b));
  EXPECT_NE(checksum(a), checksum(c));
  for (int r = 0; r < 20; ++r) {
    double n2 = 0;
    for (int k = 0; k < 33; ++k) n2 += double(a.w[r * 33 + k]) * a.w[r * 33 + k];
    EXPECT_NEAR(n2, 1.0, 1e-6);
  }
  // the first rows of a larger W are the same draws
  const auto d = generate_reference_points(7, 21, 33);
  EXPECT_TRUE(std::equal(a.w.begin(), a.w.end(), d.w.begin()));
}

TEST(ReferencePointsTest, DrawsLookStandardNormal) {
  // Before normalisation the coordinates are N(0,1): after normalisation in
  // d = 1000, d * w^2 has mean 1 and each coordinate mean ~0.
  const auto w = generate_reference_points(1, 200, 1000);
  double mean = 0, sq = 0, fourth = 0;
  for (const float x : w.w) {
    const double y = x * std::sqrt(1000.0);
    mean += y;
    sq += y * y;
    fourth += y * y * y * y;
  }
  const double n = static_cast<double>(w.w.size());
  EXPECT_NEAR(mean / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 1e-6);
  EXPECT_NEAR(fourth / n, 3.0, 0.08);  // normal kurtosis
}

TEST(ReferencePointsTest, ChecksumIsPinned) {
  // Pins the generator: a change here changes every stored W. Update docs/ESTIMATOR.md if it must change.
  EXPECT_EQ(checksum(generate_reference_points(0, 100, 256)), "a37fa3a1e3cc0520");
}

TEST(ReferencePointsTest, NormaliseRowsRejectsZeroRow) {
  std::vector<float> w = {3, 4, 0, 0};
  try {
    normalise_rows(w, 2, 2);
    FAIL();
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
  EXPECT_FLOAT_EQ(w[0], 0.6F);
  EXPECT_FLOAT_EQ(w[1], 0.8F);
  EXPECT_THROW(generate_reference_points(0, 0, 4), UsageError);
}

}  // namespace
}  // namespace ibzoo::analysis
