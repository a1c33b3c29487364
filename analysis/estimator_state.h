// The mergeable state of the soft-entropy estimator for ONE layer, and its
// finalisation into H(Z), I(X;Z), regularity, bootstrap intervals and the
// sample-size curve. This is the API the forward pass and the reduce stage call:
//
//   EstimatorState state(layout);                  // once per (layer, shard)
//   state.add_batch(assigner, z, n, label_ids, doc_ids, n_threads);   // per batch
//   io/ sends state.to_vectors() over MPI / writes it to HDF5;
//   EstimatorState::from_vectors(...) on the other side;
//   merge(a, b) adds two states;                   // any order, any grouping
//   state.estimate(weighting)                      // plain structs
//
// What is stored (all sums fp64, all counts int64):
//   per view (the full sample, each bootstrap replicate, each subset level):
//     n            positions (weighted by the view's document weight)
//     sum_p [m]    sum of soft assignments
//     per label set: a sparse table row id -> (count, sum_p [m]) holding only the
//       rows present in this state (labels with global count >= max(2, min_count),
//       see labels.h), and four singleton scalars for labels seen once globally:
//       sum of w * H(p_i), sum of w, number of singleton labels with w > 0, and
//       sum of H(p_i) over those (for uniform weighting).
// Memory: (1 + B + L) views x sum over label sets of (rows present) x (8 m + ~56)
// bytes; rows present <= min(positions seen / 2, label rows). Singletons cost nothing.
//
// Determinism: within a state every sum is added in position order, so the result
// is bitwise independent of the thread count and of how positions are cut into
// batches. merge() adds partial sums, equal to one pass within rounding (~1e-15
// relative); callers that need bitwise-stable output merge in a fixed order
// (the pipeline merges in work-item order).
//
// Not thread-safe: one state per thread or per layer; add_batch uses its own threads.
#pragma once

#include "analysis/soft_entropy.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace ibzoo::analysis {

enum class Weighting {
  kFrequency,  // w_x = P(x) (reference)
  kUniform,    // plain mean over label values with count >= min_count
};
std::string to_string(Weighting weighting);
// Parses "frequency" or "uniform"; throws UsageError naming the value.
Weighting parse_weighting(const std::string& text);

// What a state accumulates; two states merge only if their layouts are equal.
struct StateLayout {
  std::int64_t n_bins = 100;
  std::vector<std::string> label_sets;  // names, in the order add_batch receives the id arrays
  std::int64_t n_bootstrap = 0;         // Poisson(1) replicates over documents
  std::uint64_t bootstrap_seed = 0;
  std::int64_t n_subset_levels = 0;     // levels 1..L keep documents with fraction 2^-level
  std::uint64_t subset_seed = 0;
  bool operator==(const StateLayout&) const = default;
  std::int64_t n_views() const { return 1 + n_bootstrap + n_subset_levels; }
};

// Weight of document doc_id in bootstrap replicate `replicate` (0-based): a
// Poisson(1) draw by inversion of one SplitMix64 output keyed by (seed, doc, replicate).
// Independent of the shard split and of the order documents are seen.
std::int64_t bootstrap_weight(std::uint64_t seed, std::int64_t doc_id, std::int64_t replicate);
// Whether document doc_id belongs to subset `level` (>= 1): the top `level` bits
// of splitmix64(splitmix64(seed) ^ splitmix64(doc_id)) are zero. Nested: level
// l+1 is a subset of level l; the expected fraction is 2^-level.
bool in_subset(std::uint64_t seed, std::int64_t doc_id, std::int64_t level);

// The state as plain arrays, for io/ (HDF5, MPI). Views are ordered: full
// sample, bootstrap replicates 0..B-1, subset levels 1..L. Table rows are sorted by id.
struct TableVectors {
  std::vector<std::int64_t> ids;     // [k] label row ids
  std::vector<std::int64_t> counts;  // [k]
  std::vector<double> sums;          // [k, m] row-major
  double singleton_entropy_weighted = 0.0;  // sum of w * H(p_i) (nats) over singleton positions
  std::int64_t singleton_weight = 0;        // sum of w over singleton positions
  std::int64_t singleton_labels = 0;        // singleton positions with w > 0
  double singleton_entropy = 0.0;           // sum of H(p_i) over singleton positions with w > 0
};
struct ViewVectors {
  std::int64_t n = 0;
  std::vector<double> sum_p;  // [m]
  std::vector<TableVectors> tables;  // one per label set
};
struct StateVectors {
  StateLayout layout;
  std::vector<ViewVectors> views;  // [n_views]
};

// Results, in efficiency units (nats / log m). nullopt = undefined (no positions,
// no label reaching min_count, H(Z) = 0 for regularity): report as null, never a number.
struct SetEstimate {
  std::optional<double> mutual_information;
  std::optional<double> regularity;
  std::int64_t n_labels = 0;  // label values that entered the conditional entropy
};
struct ViewEstimate {
  std::int64_t n_samples = 0;
  std::optional<double> entropy;
  std::vector<SetEstimate> sets;  // in layout order
};
struct Interval {
  double low = 0.0;
  double high = 0.0;
};
struct LayerEstimate {
  std::vector<std::string> label_sets;
  ViewEstimate full;
  std::vector<ViewEstimate> bootstrap;  // [B]
  std::vector<ViewEstimate> subsets;    // [L], level l keeps fraction 2^-l of the documents
  // Percentile intervals over the defined bootstrap replicates (nullopt if B = 0 or none defined).
  std::optional<Interval> entropy_interval;
  std::vector<std::optional<Interval>> mi_intervals;  // in layout order
};

class EstimatorState {
 public:
  // Throws UsageError if n_bins < 2, counts are negative, or label set names repeat.
  explicit EstimatorState(StateLayout layout);

  const StateLayout& layout() const { return layout_; }

  // Adds n_rows positions. z: [n_rows, assigner.dim()] row-major float32.
  // label_ids: one array of n_rows ids per label set (row id, kSingleton or
  // kDropped, from a LabelSet's ids); doc_ids: [n_rows] document ids (used by the
  // bootstrap and subsets; pass any values when both are off). n_threads >= 1.
  // Throws CorruptDataError for a zero/NaN row of z (nothing is added then).
  void add_batch(const SoftAssigner& assigner, const float* z, std::int64_t n_rows,
                 std::span<const std::span<const std::int32_t>> label_ids, std::span<const std::int64_t> doc_ids,
                 int n_threads = 1);
  // The same from soft assignments computed elsewhere (e.g. on the GPU):
  // p: [n_rows, n_bins] row-major, each row a probability vector.
  void add_assignments(const float* p, std::int64_t n_rows, std::span<const std::span<const std::int32_t>> label_ids,
                       std::span<const std::int64_t> doc_ids, int n_threads = 1);

  StateVectors to_vectors() const;
  // Throws CorruptDataError naming the field if the vectors are inconsistent.
  static EstimatorState from_vectors(const StateVectors& vectors);

  LayerEstimate estimate(Weighting weighting, double confidence = 0.95) const;

  std::int64_t n_samples() const { return views_.front().n; }
  // Approximate heap bytes held by the tables (for logging and the memory model).
  std::int64_t memory_bytes() const;

  friend EstimatorState merge(const EstimatorState& a, const EstimatorState& b);

 private:
  struct Table {
    std::unordered_map<std::int32_t, std::int32_t> slot_of;
    std::vector<std::int64_t> ids;
    std::vector<std::int64_t> counts;
    std::vector<double> sums;
    double singleton_entropy_weighted = 0.0;
    std::int64_t singleton_weight = 0;
    std::int64_t singleton_labels = 0;
    double singleton_entropy = 0.0;
    double* row(std::int64_t id, std::int64_t n_bins);
  };
  struct View {
    std::int64_t n = 0;
    std::vector<double> sum_p;
    std::vector<Table> tables;
  };

  std::int64_t weight(std::int64_t view_idx, std::int64_t doc_id) const;
  ViewEstimate estimate_view(const View& view, Weighting weighting) const;

  StateLayout layout_;
  std::vector<View> views_;
};

// a + b: equal to one pass over the union of their positions within rounding.
// Throws UsageError if the layouts differ.
EstimatorState merge(const EstimatorState& a, const EstimatorState& b);

}  // namespace ibzoo::analysis
