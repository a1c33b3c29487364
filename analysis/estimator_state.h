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
// Reduce with bounded memory (label space partitioned, e.g. across MPI ranks):
//   each part keeps only the rows of its RowShare (from_vectors(v, share)), merges,
//   and computes conditional_sums(); the parts' sums are added (add_sums, exact
//   integer arithmetic, any order), and estimate(weighting, total) finishes on any
//   part (n, sum_p and the singleton scalars are not partitioned: every part has them).
//   The result is bitwise equal to estimate(weighting) of the unpartitioned state.
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
// (the pipeline merges in work-item order). The finalisation's sum over table rows
// is an ExactSum, so it does not depend on the rows' order or on how they were
// partitioned.
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

// Which table rows a partial state keeps: ids with id % n_parts == part_idx.
struct RowShare {
  std::int64_t n_parts = 1;
  std::int64_t part_idx = 0;
  bool contains(std::int64_t id) const { return id % n_parts == part_idx; }
  bool operator==(const RowShare&) const = default;
};

// A sum of non-negative doubles in 64.64 fixed point: addition is exact integer
// arithmetic, so the total does not depend on the order or grouping of the terms.
// Each term is truncated below 2^-64 (absolute error < 5.5e-20 per term); terms must
// be finite, >= 0 and < 2^63.
struct ExactSum {
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;  // units of 2^-64
  void add(double term);
  void add(const ExactSum& other);
  double value() const;
  bool operator==(const ExactSum&) const = default;
};

// The row-dependent parts of the conditional entropies, per view and label set:
// sum over rows of count * H(row) (frequency) or H(row) (uniform), the number of
// rows with count > 0, and their total count. Adding the sums of disjoint row
// shares gives the sums of the union, exactly.
struct ConditionalSums {
  struct Set {
    ExactSum weighted_entropy;
    std::int64_t n_rows = 0;
    std::int64_t n_weight = 0;
    bool operator==(const Set&) const = default;
  };
  std::vector<std::vector<Set>> views;  // [n_views][n_sets]
  bool operator==(const ConditionalSums&) const = default;
  // As plain integers (4 per set, view-major), for io/ to send; from_flat throws
  // CorruptDataError when the size does not match the layout.
  std::vector<std::int64_t> to_flat() const;
  static ConditionalSums from_flat(std::span<const std::int64_t> flat, std::int64_t n_views, std::int64_t n_sets);
};
// a + b. Throws UsageError when the shapes differ.
ConditionalSums add_sums(const ConditionalSums& a, const ConditionalSums& b);

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
  // The same from soft assignments computed elsewhere (e.g. on the GPU, or read
  // back from an item's state file): p: [n_rows, n_bins] row-major, each row a
  // probability vector. With a share, only the table rows of that share are kept
  // (n, sum_p and the singleton scalars always take every position), which is what
  // a partitioned reduce needs.
  void add_assignments(const float* p, std::int64_t n_rows, std::span<const std::span<const std::int32_t>> label_ids,
                       std::span<const std::int64_t> doc_ids, int n_threads = 1, const RowShare& share = RowShare{});

  // Capacity for rows_per_set[s] table rows of set s (of `share`, when partial) in
  // every view, so that tables that grow to millions of rows are not reallocated
  // and copied as they grow (the reduce knows the sample's row counts), and a dense
  // id -> slot index (4 bytes per row id) in place of the hash map. Call it on an
  // empty state; ids must then stay below rows_per_set[s].
  void reserve_rows(std::span<const std::int64_t> rows_per_set, const RowShare& share = RowShare{});

  StateVectors to_vectors() const;
  // Throws CorruptDataError naming the field if the vectors are inconsistent.
  static EstimatorState from_vectors(const StateVectors& vectors);
  // The same keeping only the table rows of `share` (everything else in full).
  static EstimatorState from_vectors(const StateVectors& vectors, const RowShare& share);

  LayerEstimate estimate(Weighting weighting, double confidence = 0.95) const;
  // The sums over the rows this state holds (its share, when partial).
  ConditionalSums conditional_sums(Weighting weighting) const;
  // estimate() with the row sums given (the total over every share); this state
  // supplies n, sum_p and the singleton scalars. Throws UsageError on a shape mismatch.
  LayerEstimate estimate(Weighting weighting, const ConditionalSums& rows_total, double confidence = 0.95) const;

  // Adds other into this state in place (no copy of this state). Throws UsageError
  // if the layouts differ.
  void add(const EstimatorState& other);

  std::int64_t n_samples() const { return views_.front().n; }
  // Approximate heap bytes held by the tables (for logging and the memory model).
  std::int64_t memory_bytes() const;

  friend EstimatorState merge(const EstimatorState& a, const EstimatorState& b);

 private:
  struct Table {
    std::unordered_map<std::int32_t, std::int32_t> slot_of;
    std::vector<std::int32_t> dense_slot;  // id -> slot, -1 absent; used instead of slot_of once reserve_rows sizes it
    std::vector<std::int64_t> ids;
    std::vector<std::int64_t> counts;
    std::vector<double> sums;
    double singleton_entropy_weighted = 0.0;
    std::int64_t singleton_weight = 0;
    std::int64_t singleton_labels = 0;
    double singleton_entropy = 0.0;
    // The slot of row `id` (appended, zeroed, when new): its sums start at sums[slot * n_bins].
    std::size_t slot(std::int64_t id, std::int64_t n_bins);
  };
  struct View {
    std::int64_t n = 0;
    std::vector<double> sum_p;
    std::vector<Table> tables;
  };

  std::int64_t weight(std::int64_t view_idx, std::int64_t doc_id) const;
  ViewEstimate estimate_view(const View& view, const std::vector<ConditionalSums::Set>& rows, Weighting weighting) const;

  StateLayout layout_;
  std::vector<View> views_;
};

// a + b: equal to one pass over the union of their positions within rounding.
// Throws UsageError if the layouts differ.
EstimatorState merge(const EstimatorState& a, const EstimatorState& b);

}  // namespace ibzoo::analysis
