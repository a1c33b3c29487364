// The portable generator of the estimator's reference points. Everything here
// must give the same bits everywhere: no std::normal_distribution (its output
// differs between standard libraries) and no libm transcendental functions.
#include "analysis/reference_points.h"

#include "errors/check.h"
#include "errors/error.h"

#include <bit>
#include <cmath>

namespace ibzoo::analysis {
namespace {

// 2 ln 2 split in a high part with trailing zero bits and a correction, so that
// e * kLn2High is exact for the exponents of a double.
constexpr double kLn2High = 6.93147180369123816490e-01;
constexpr double kLn2Low = 1.90821492927058770002e-10;
constexpr double kSqrtHalf = 0.70710678118654752440;

// Uniform on [-1, 1) with 53 random bits.
double uniform_pm1(SplitMix64Stream& stream) { return static_cast<double>(stream.next() >> 11) * 0x1.0p-52 - 1.0; }

void fnv1a(std::uint64_t& hash, std::uint64_t word, int n_bytes) {
  for (int byte = 0; byte < n_bytes; ++byte) {
    hash ^= (word >> (8 * byte)) & 0xFFU;
    hash *= 0x100000001B3ULL;
  }
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + SplitMix64Stream::kGamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double portable_log(double x) {
  IBZOO_CHECK(x > 0.0 && std::isfinite(x), "x = " << x);
  int exponent = 0;
  double mantissa = std::frexp(x, &exponent);  // exact: x = mantissa * 2^exponent, mantissa in [0.5, 1)
  if (mantissa < kSqrtHalf) {
    mantissa *= 2.0;
    exponent -= 1;
  }
  // log(mantissa) = 2 atanh(t), t = (mantissa - 1) / (mantissa + 1), |t| <= 0.1716.
  const double t = (mantissa - 1.0) / (mantissa + 1.0);
  const double t2 = t * t;
  double sum = 0.0;
  double power = t;
  for (int k = 1; k < 60; k += 2) {
    const double term = power / k;
    sum += term;
    if (std::abs(term) < 1e-20) break;
    power *= t2;
  }
  const auto e = static_cast<double>(exponent);
  return e * kLn2High + (2.0 * sum + e * kLn2Low);
}

ReferencePoints generate_reference_points(std::uint64_t seed, std::int64_t n_points, std::int64_t dim) {
  if (n_points < 1 || dim < 1) {
    throw UsageError("reference points need m >= 1 and d >= 1, got m = " + std::to_string(n_points) +
                     ", d = " + std::to_string(dim));
  }
  ReferencePoints points{n_points, dim, std::vector<float>(static_cast<std::size_t>(n_points * dim))};
  SplitMix64Stream stream(seed);
  std::vector<double> row(static_cast<std::size_t>(dim));
  double spare = 0.0;
  bool has_spare = false;
  const auto next_normal = [&]() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    for (;;) {
      const double u = uniform_pm1(stream);
      const double v = uniform_pm1(stream);
      const double s = u * u + v * v;
      if (s >= 1.0 || s == 0.0) continue;
      const double f = std::sqrt(-2.0 * portable_log(s) / s);
      spare = v * f;
      has_spare = true;
      return u * f;
    }
  };
  for (std::int64_t r = 0; r < n_points; ++r) {
    double norm2 = 0.0;
    for (auto& x : row) {
      x = next_normal();
      norm2 += x * x;
    }
    const double norm = std::sqrt(norm2);
    for (std::int64_t c = 0; c < dim; ++c) {
      points.w[static_cast<std::size_t>(r * dim + c)] = static_cast<float>(row[static_cast<std::size_t>(c)] / norm);
    }
  }
  return points;
}

void normalise_rows(std::span<float> w, std::int64_t n_points, std::int64_t dim) {
  IBZOO_CHECK(static_cast<std::int64_t>(w.size()) == n_points * dim, w.size() << " vs " << n_points << "x" << dim);
  for (std::int64_t r = 0; r < n_points; ++r) {
    const auto row = w.subspan(static_cast<std::size_t>(r * dim), static_cast<std::size_t>(dim));
    double norm2 = 0.0;
    for (const float x : row) norm2 += static_cast<double>(x) * static_cast<double>(x);
    const double norm = std::sqrt(norm2);
    if (!(norm > 0.0) || !std::isfinite(norm)) {
      throw CorruptDataError("reference point row " + std::to_string(r) + " has norm " + std::to_string(norm) +
                             ", expected a finite non-zero vector; fix or regenerate the reference points");
    }
    for (float& x : row) x = static_cast<float>(static_cast<double>(x) / norm);
  }
}

std::string checksum(const ReferencePoints& points) {
  std::uint64_t hash = 0xCBF29CE484222325ULL;
  fnv1a(hash, static_cast<std::uint64_t>(points.n_points), 8);
  fnv1a(hash, static_cast<std::uint64_t>(points.dim), 8);
  for (const float x : points.w) fnv1a(hash, std::bit_cast<std::uint32_t>(x), 4);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(15 - i)] = kHex[(hash >> (4 * i)) & 0xFU];
  return out;
}

}  // namespace ibzoo::analysis
