// The views of the estimator: each document's weight in the full sample, the bootstrap
// replicates and the sample-size subsets (declared in analysis/estimator_state.h).
#include "analysis/estimator_state.h"

#include "analysis/reference_points.h"
#include "errors/check.h"
#include "errors/error.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::analysis {
namespace {

// Poisson(1) cumulative probabilities, built from e^-1 with + and * only (portable).
constexpr double kExpMinusOne = 0.36787944117144233;

struct PoissonTable {
  std::vector<double> cdf;
  PoissonTable() {
    double term = kExpMinusOne;
    double sum = term;
    cdf.push_back(sum);
    for (int k = 1; k < 30; ++k) {
      term /= k;
      sum += term;
      cdf.push_back(sum);
    }
  }
};

}  // namespace

std::int64_t bootstrap_weight(std::uint64_t seed, std::int64_t doc_id, std::int64_t replicate) {
  static const PoissonTable table;
  const std::uint64_t key = splitmix64(splitmix64(seed) ^ splitmix64(static_cast<std::uint64_t>(doc_id))) ^
                            static_cast<std::uint64_t>(replicate);
  const double u = static_cast<double>(splitmix64(key) >> 11) * 0x1.0p-53;
  std::int64_t k = 0;
  while (k + 1 < static_cast<std::int64_t>(table.cdf.size()) && u >= table.cdf[static_cast<std::size_t>(k)]) ++k;
  return k;
}

bool in_subset(std::uint64_t seed, std::int64_t doc_id, std::int64_t level) {
  IBZOO_CHECK(level >= 1 && level < 64, "level = " << level);
  const std::uint64_t h = splitmix64(splitmix64(seed) ^ splitmix64(static_cast<std::uint64_t>(doc_id)));
  return (h >> (64 - level)) == 0;
}

std::int64_t view_weight(const StateLayout& layout, std::int64_t view_idx, std::int64_t doc_id) {
  if (view_idx == 0) return 1;
  if (view_idx <= layout.n_bootstrap) return bootstrap_weight(layout.bootstrap_seed, doc_id, view_idx - 1);
  return in_subset(layout.subset_seed, doc_id, view_idx - layout.n_bootstrap) ? 1 : 0;
}

std::int64_t max_view_weight(const StateLayout& layout, std::int64_t view_idx) {
  static const PoissonTable table;
  if (view_idx >= 1 && view_idx <= layout.n_bootstrap) return static_cast<std::int64_t>(table.cdf.size()) - 1;
  return 1;
}

void check_view_weights(std::span<const std::int64_t> weights) {
  for (std::size_t v = 0; v < weights.size(); ++v) {
    if (weights[v] > kMaxViewWeight) {
      throw UsageError("view " + std::to_string(v) + " of the estimator weighs " + std::to_string(weights[v]) +
                       " positions, more than the exact sums hold (" + std::to_string(kMaxViewWeight) +
                       ", docs/ESTIMATOR.md \"Exact sums\"); use fewer documents per checkpoint");
    }
  }
}

}  // namespace ibzoo::analysis
