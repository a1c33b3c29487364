// Reference points W [m, d] of the soft-entropy estimator: m unit vectors drawn
// from a standard normal in R^d and normalised. W depends only on (seed, m, d)
// and is bit-identical on every platform, rank and build: the generator uses
// only integer arithmetic and the correctly rounded IEEE-754 operations
// (+ - * / sqrt), with its own logarithm (see docs/ESTIMATOR.md, "Generator of W").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::analysis {

struct ReferencePoints {
  std::int64_t n_points = 0;  // m
  std::int64_t dim = 0;       // d
  std::vector<float> w;       // [m, d] row-major, every row of unit norm
};

// SplitMix64: the counter-based 64-bit mixer every random draw of the estimator uses.
std::uint64_t splitmix64(std::uint64_t x);

// The SplitMix64 stream: from seed s it returns splitmix64(s), splitmix64(s + gamma),
// ... The one portable generator of ibzoo (weights, training windows, tasks, W).
class SplitMix64Stream {
 public:
  static constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ULL;
  explicit SplitMix64Stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    const std::uint64_t x = state_;
    state_ += kGamma;
    return splitmix64(x);
  }
  // An index in [0, n) (n > 0), by modulo.
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};
// Natural log for x > 0 from + - * / only (no libm), exact to ~1 ulp.
double portable_log(double x);

// Draws W for (seed, m, d): standard normals by Marsaglia's polar method on a
// SplitMix64 stream, filled row-major, each row normalised in double and
// rounded to float. Throws UsageError if m < 1 or d < 1.
ReferencePoints generate_reference_points(std::uint64_t seed, std::int64_t n_points, std::int64_t dim);

// Normalises each row of a [m, d] matrix to unit norm (in double, rounded to
// float) in place. Throws CorruptDataError naming the row if a row has zero or
// non-finite norm. Used when W is loaded from a file.
void normalise_rows(std::span<float> w, std::int64_t n_points, std::int64_t dim);

// FNV-1a (64-bit) over the bytes of m and d (little-endian int64) and of every
// float of W (little-endian IEEE binary32), row-major,
// as 16 lowercase hex digits. Stored with every result to identify W.
std::string checksum(const ReferencePoints& points);

}  // namespace ibzoo::analysis
