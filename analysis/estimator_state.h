// The mergeable state of the soft-entropy estimator for ONE layer, held as exact
// integer sums, and its finalisation into H(Z), I(X;Z), regularity, bootstrap
// intervals and the sample-size curve. The host accumulator of the streaming
// estimate (the GPU one, models/device_tables.h, keeps the same sums on the device):
//
//   EstimatorState state(layout);                   // once per (layer, checkpoint)
//   state.add_assignments(p, n, label_ids, doc_ids); // per batch, p from the forward pass
//   const LayerSums sums = state.sums();             // row entropies and scalars
//   LayerSums::add(other)                            // across row shares and ranks, exact
//   estimate(sums, weighting)                        // plain structs
//
// Exact sums (docs/ESTIMATOR.md, "Exact sums"): every soft-assignment value p is
// rounded once to a multiple of 2^-kMassBits and added as an int64, and every
// singleton entropy to a multiple of 2^-kEntropyBits nats. Integer addition is
// associative, so the sums, and everything computed from them, are bitwise
// independent of the order of positions, the batch size, the thread count, how
// positions are split across ranks and in which order partial sums are merged.
// Overflow bound: a view's weighted position count must stay below kMaxViewWeight
// (2^27 - 1 = 134,217,727); the constructor of a plan checks it (check_view_weight).
//
// Tables are dense: label set s has layout.label_rows[s] rows (labels seen at least
// max(2, min_count) times in the whole sample, analysis/labels.h); with a RowShare
// of P parts, this state holds rows id % P == part only, at local index id / P.
// Cells: a row's m sums are int64 ("wide"), or, when the state is given every row's
// global count (RowCounts) and the row can never gather more than kNarrowMaxWeight
// weighted positions in a view, 40-bit integers in 5 bytes ("narrow": a uint32 low
// word and a uint8 high byte). Both hold the same integers: the representation
// changes memory, never a result. Memory: views x per set, rows in the share x 8
// (counts) + wide rows x 8 m + narrow rows x 5 m, plus a bit per row (table_bytes).
//
// add_assignments with Contribution::kRowsOnly adds only the table rows (team mode:
// positions another rank computed, whose n, sum_p and singleton terms that rank adds).
//
// Not thread-safe: one state per layer; add_assignments uses its own threads.
#pragma once

#include "analysis/labels.h"
#include "analysis/row_table.h"
#include "analysis/soft_entropy.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ibzoo::analysis {

inline constexpr int kMassBits = 36;     // table sums and sum_p: units of 2^-36 of probability mass
inline constexpr int kEntropyBits = 32;  // singleton entropies: units of 2^-32 nats
inline constexpr std::int64_t kMaxViewWeight = (std::int64_t{1} << (63 - kMassBits)) - 1;
// A narrow cell holds sums below 2^40: at most 15 positions of mass <= 2^36 units each.
inline constexpr int kNarrowCellBits = 40;
inline constexpr std::int64_t kNarrowMaxWeight = (std::int64_t{1} << (kNarrowCellBits - kMassBits)) - 1;

// p rounded to the mass grid (to nearest, ties to even), as the device does.
std::int64_t to_mass_units(float p);
// The same for every value of p (the same integers, from a loop that vectorises).
void to_mass_units(std::span<const float> p, std::span<std::int64_t> units);
// An entropy (nats, >= 0) rounded to the entropy grid.
std::int64_t to_entropy_units(double h);

enum class Weighting {
  kFrequency,  // w_x = P(x) (reference)
  kUniform,    // plain mean over label values with count >= min_count
};
std::string to_string(Weighting weighting);
// Parses "frequency" or "uniform"; throws UsageError naming the value.
Weighting parse_weighting(const std::string& text);

// What a state accumulates; two states' sums add only if their layouts are equal.
struct StateLayout {
  std::int64_t n_bins = 100;
  std::vector<std::string> label_sets;  // names, in the order add_assignments receives the id arrays
  std::vector<std::int64_t> label_rows; // table rows of each set over the whole sample
  std::int64_t n_bootstrap = 0;         // Poisson(1) replicates over documents
  std::uint64_t bootstrap_seed = 0;
  std::int64_t n_subset_levels = 0;     // levels 1..L keep documents with fraction 2^-level
  std::uint64_t subset_seed = 0;
  bool operator==(const StateLayout&) const = default;
  std::int64_t n_views() const { return 1 + n_bootstrap + n_subset_levels; }
  std::int64_t n_sets() const { return static_cast<std::int64_t>(label_sets.size()); }
};

// Weight of document doc_id in bootstrap replicate `replicate` (0-based): a
// Poisson(1) draw by inversion of one SplitMix64 output keyed by (seed, doc, replicate).
// Independent of the shard split and of the order documents are seen.
std::int64_t bootstrap_weight(std::uint64_t seed, std::int64_t doc_id, std::int64_t replicate);
// Whether document doc_id belongs to subset `level` (>= 1): the top `level` bits
// of splitmix64(splitmix64(seed) ^ splitmix64(doc_id)) are zero. Nested: level
// l+1 is a subset of level l; the expected fraction is 2^-level.
bool in_subset(std::uint64_t seed, std::int64_t doc_id, std::int64_t level);
// Weight of document doc_id in view `view_idx` (0: the full sample, 1..B: bootstrap
// replicates, then the subset levels).
std::int64_t view_weight(const StateLayout& layout, std::int64_t view_idx, std::int64_t doc_id);
// The largest weight any document can have in view `view_idx` (1, or the largest
// Poisson draw bootstrap_weight returns).
std::int64_t max_view_weight(const StateLayout& layout, std::int64_t view_idx);

// Which table rows a partial state keeps: ids with id % n_parts == part_idx.
// The most passes over the sample one rank makes to hold a layer's tables in a
// budget (stages/accumulate.h); beyond it the run asks for more memory or ranks.
inline constexpr std::int64_t kMaxRowShares = 4096;

struct RowShare {
  std::int64_t n_parts = 1;
  std::int64_t part_idx = 0;
  bool contains(std::int64_t id) const { return id % n_parts == part_idx; }
  std::int64_t local(std::int64_t id) const { return id / n_parts; }
  // Rows of a set of `rows` rows that fall in this share.
  std::int64_t rows_in(std::int64_t rows) const {
    return rows > part_idx ? (rows - part_idx + n_parts - 1) / n_parts : 0;
  }
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

// Everything the estimates need of one layer, as exact sums. Adding the sums of
// disjoint position sets (n, sum_p, singletons) and of disjoint row shares (the row
// terms) gives the sums of the union, bitwise.
struct SetSums {
  ExactSum entropy_weighted;            // over table rows with count > 0: count x H(row), nats
  ExactSum entropy_rows;                // over the same rows: H(row), nats (uniform weighting)
  std::int64_t n_rows = 0;              // table rows with count > 0
  std::int64_t n_weight = 0;            // their total (weighted) count
  std::int64_t singleton_entropy_weighted = 0;  // sum of w x H(p_i) over singleton positions, entropy units
  std::int64_t singleton_weight = 0;            // sum of w over singleton positions
  std::int64_t singleton_labels = 0;            // singleton positions with w > 0
  std::int64_t singleton_entropy = 0;           // sum of H(p_i) over those, entropy units
  bool operator==(const SetSums&) const = default;
};
struct ViewSums {
  std::int64_t n = 0;                   // positions, weighted by the view's document weights
  std::vector<std::int64_t> sum_p;      // [m], mass units
  std::vector<SetSums> sets;            // one per label set
  bool operator==(const ViewSums&) const = default;
};
struct LayerSums {
  StateLayout layout;
  std::vector<ViewSums> views;          // [n_views]: full sample, bootstrap replicates, subset levels
  explicit LayerSums(StateLayout layout = {});
  // this += other. Throws UsageError when the layouts differ.
  void add(const LayerSums& other);
  // As plain integers (view-major: n, sum_p[m], then 12 per set), for io/ to send and
  // store; from_flat throws CorruptDataError naming the expected size.
  std::vector<std::int64_t> to_flat() const;
  static LayerSums from_flat(const StateLayout& layout, std::span<const std::int64_t> flat);
  bool operator==(const LayerSums&) const = default;
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

LayerEstimate estimate(const LayerSums& sums, Weighting weighting, double confidence = 0.95);

// What a view of the positions contributes: everything (own positions), or only the
// table rows (team mode: positions another rank computed and counted).
enum class Contribution { kAll, kRowsOnly };

class EstimatorState {
 public:
  // Throws UsageError if n_bins < 2, counts are negative, label set names repeat or
  // label_rows does not have one entry per set. row_counts: empty (every cell wide),
  // or one array of label_rows[s] global counts per set; a position that would take a
  // narrow row past its count is an internal error (nothing overflows silently).
  explicit EstimatorState(StateLayout layout, RowShare share = RowShare{}, const RowCounts& row_counts = {});

  const StateLayout& layout() const { return layout_; }
  const RowShare& share() const { return share_; }

  // Adds n_rows positions. z: [n_rows, assigner.dim()] row-major float32.
  // label_ids: one array of n_rows ids per label set (row id, kSingleton or
  // kDropped, from a LabelSet's ids); doc_ids: [n_rows] document ids (used by the
  // bootstrap and subsets; pass any values when both are off). n_threads >= 1.
  // Throws CorruptDataError for a zero/NaN row of z (nothing is added then).
  void add_batch(const SoftAssigner& assigner, const float* z, std::int64_t n_rows,
                 std::span<const std::span<const std::int32_t>> label_ids, std::span<const std::int64_t> doc_ids,
                 int n_threads = 1);
  // The same from soft assignments computed elsewhere: p: [n_rows, n_bins]
  // row-major, each row a probability vector.
  void add_assignments(const float* p, std::int64_t n_rows, std::span<const std::span<const std::int32_t>> label_ids,
                       std::span<const std::int64_t> doc_ids, int n_threads = 1,
                       Contribution contribution = Contribution::kAll);

  // The sums of what this state holds: its positions' scalars and its share's rows.
  // Row entropies are computed on up to n_threads threads (bitwise independent of it).
  LayerSums sums(int n_threads = 1) const;

  std::int64_t n_samples() const { return views_.front().n; }
  // Bytes held by the tables.
  std::int64_t memory_bytes() const;
  // Bytes the tables of `layout` take for `share` (row_counts as for the constructor).
  static std::int64_t table_bytes(const StateLayout& layout, const RowShare& share = RowShare{},
                                  const RowCounts& row_counts = {});

 private:
  struct Table {
    std::vector<std::int64_t> counts;  // [rows in share], weighted
    RowTable mass;                     // [rows in share] x m sums
    std::int64_t singleton_entropy_weighted = 0;
    std::int64_t singleton_weight = 0;
    std::int64_t singleton_labels = 0;
    std::int64_t singleton_entropy = 0;
  };
  struct View {
    std::int64_t n = 0;
    std::vector<std::int64_t> sum_p;
    std::vector<Table> tables;
  };

  StateLayout layout_;
  RowShare share_;
  std::vector<View> views_;
};

// Throws UsageError naming the view when a view's weighted position count would
// reach the fixed-point bound (kMaxViewWeight): `weights[v]` is view v's total.
void check_view_weights(std::span<const std::int64_t> weights);

}  // namespace ibzoo::analysis
