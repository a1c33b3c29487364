// Accumulate the estimator's exact integer sums, turn them into row entropies and
// scalars (LayerSums), and finalise those into estimates. Every sum is an integer
// sum, so work is split across threads freely: no result depends on the split.
#include "analysis/estimator_state.h"

#include "errors/check.h"
#include "errors/error.h"
#include "analysis/labels.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <thread>

namespace ibzoo::analysis {
namespace {

constexpr std::int64_t kChunkRows = 1024;
constexpr double kMassScale = 0x1.0p36;
constexpr double kEntropyScale = 0x1.0p32;
static_assert(kMassBits == 36 && kEntropyBits == 32, "scales above follow the bit counts");
// Runs fn(worker) for worker = 0 .. n_threads-1, on n_threads - 1 extra threads;
// rethrows the first exception.
template <typename Fn>
void run_workers(int n_threads, const Fn& fn) {
  if (n_threads <= 1) {
    fn(0);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n_threads));
  const auto guarded = [&](int t) {
    try {
      fn(t);
    } catch (...) {
      errors[static_cast<std::size_t>(t)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n_threads - 1));
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(guarded, t);
  guarded(0);
  for (auto& th : threads) th.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

int workers_for(std::int64_t units, int n_threads) {
  return static_cast<int>(std::clamp<std::int64_t>(units, 1, std::max(1, n_threads)));
}

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

constexpr std::int64_t kFlatPerSet = 10;

void check_row_counts(const StateLayout& layout, const RowCounts& row_counts) {
  if (row_counts.empty()) return;
  IBZOO_CHECK(row_counts.size() == layout.label_rows.size(), row_counts.size() << " row count arrays for "
                                                                             << layout.label_rows.size() << " label sets");
  for (std::size_t s = 0; s < row_counts.size(); ++s) {
    IBZOO_CHECK(static_cast<std::int64_t>(row_counts[s].size()) == layout.label_rows[s],
                "set " << layout.label_sets[s] << ": " << row_counts[s].size() << " row counts for " << layout.label_rows[s] << " rows");
  }
}

}  // namespace

std::int64_t to_mass_units(float p) { return static_cast<std::int64_t>(std::nearbyint(static_cast<double>(p) * kMassScale)); }

// The values of to_mass_units from a loop that vectorises: y = x + 2^52 is x rounded to
// an integer as nearbyint does (to nearest, ties to even) whenever y lands in [2^52,
// 2^52 + 2^51), where doubles are the integers, and then bits(y) - bits(2^52) is that
// integer. If some y falls outside (never from a softmax: 0 <= x <= 2^36), every value
// goes through to_mass_units.
void to_mass_units(std::span<const float> p, std::span<std::int64_t> units) {
  IBZOO_CHECK(p.size() == units.size(), p.size() << " vs " << units.size());
  constexpr double kRound = 0x1.0p52;
  std::uint64_t out_of_range = 0;
  for (std::size_t j = 0; j < p.size(); ++j) {
    const double y = static_cast<double>(p[j]) * kMassScale + kRound;
    const std::uint64_t u = std::bit_cast<std::uint64_t>(y) - std::bit_cast<std::uint64_t>(kRound);
    out_of_range |= u >> 51;
    units[j] = static_cast<std::int64_t>(u);
  }
  if (out_of_range == 0) return;
  for (std::size_t j = 0; j < p.size(); ++j) units[j] = to_mass_units(p[j]);
}

std::int64_t to_entropy_units(double h) { return static_cast<std::int64_t>(std::nearbyint(h * kEntropyScale)); }

std::string to_string(Weighting weighting) {
  return weighting == Weighting::kFrequency ? "frequency" : "uniform";
}

Weighting parse_weighting(const std::string& text) {
  if (text == "frequency") return Weighting::kFrequency;
  if (text == "uniform") return Weighting::kUniform;
  throw UsageError("weighting must be 'frequency' or 'uniform', got '" + text + "'");
}

// --- ExactSum ---------------------------------------------------------------

void ExactSum::add(double term) {
  IBZOO_CHECK(std::isfinite(term) && term >= 0.0 && term < 0x1.0p63, "ExactSum term " << term);
  const double whole_part = std::floor(term);
  // term - floor(term) is exact; scaling by 2^64 is exact; the cast truncates below 2^-64.
  const auto frac = static_cast<std::uint64_t>(std::ldexp(term - whole_part, 64));
  add(ExactSum{static_cast<std::uint64_t>(whole_part), frac});
}

void ExactSum::add(const ExactSum& other) {
  const std::uint64_t f = fraction + other.fraction;
  whole += other.whole + (f < fraction ? 1U : 0U);
  fraction = f;
}

double ExactSum::value() const { return static_cast<double>(whole) + std::ldexp(static_cast<double>(fraction), -64); }

// --- LayerSums --------------------------------------------------------------

LayerSums::LayerSums(StateLayout layout_in) : layout(std::move(layout_in)) {
  views.resize(sz(layout.n_views()));
  for (auto& view : views) {
    view.sum_p.assign(sz(layout.n_bins), 0);
    view.sets.resize(layout.label_sets.size());
  }
}

void LayerSums::add(const LayerSums& other) {
  if (!(layout == other.layout)) {
    throw UsageError("cannot add estimator sums of different layouts (bins, label sets, rows, bootstrap or subsets)");
  }
  for (std::size_t v = 0; v < views.size(); ++v) {
    auto& dst = views[v];
    const auto& src = other.views[v];
    dst.n += src.n;
    for (std::size_t j = 0; j < dst.sum_p.size(); ++j) dst.sum_p[j] += src.sum_p[j];
    for (std::size_t s = 0; s < dst.sets.size(); ++s) {
      auto& a = dst.sets[s];
      const auto& b = src.sets[s];
      a.entropy_weighted.add(b.entropy_weighted);
      a.entropy_rows.add(b.entropy_rows);
      a.n_rows += b.n_rows;
      a.n_weight += b.n_weight;
      a.singleton_entropy_weighted += b.singleton_entropy_weighted;
      a.singleton_weight += b.singleton_weight;
      a.singleton_labels += b.singleton_labels;
      a.singleton_entropy += b.singleton_entropy;
    }
  }
}

std::vector<std::int64_t> LayerSums::to_flat() const {
  std::vector<std::int64_t> flat;
  const auto bits = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  for (const auto& view : views) {
    flat.push_back(view.n);
    flat.insert(flat.end(), view.sum_p.begin(), view.sum_p.end());
    for (const auto& s : view.sets) {
      flat.insert(flat.end(), {bits(s.entropy_weighted.whole), bits(s.entropy_weighted.fraction), bits(s.entropy_rows.whole),
                               bits(s.entropy_rows.fraction), s.n_rows, s.n_weight, s.singleton_entropy_weighted,
                               s.singleton_weight, s.singleton_labels, s.singleton_entropy});
    }
  }
  return flat;
}

LayerSums LayerSums::from_flat(const StateLayout& layout, std::span<const std::int64_t> flat) {
  LayerSums out(layout);
  const auto per_view = 1 + layout.n_bins + kFlatPerSet * layout.n_sets();
  if (static_cast<std::int64_t>(flat.size()) != layout.n_views() * per_view) {
    throw CorruptDataError("estimator sums: expected " + std::to_string(layout.n_views() * per_view) + " integers (" +
                           std::to_string(layout.n_views()) + " views x (1 + " + std::to_string(layout.n_bins) +
                           " bins + " + std::to_string(kFlatPerSet) + " x " + std::to_string(layout.n_sets()) +
                           " label sets)), found " + std::to_string(flat.size()));
  }
  const auto bits = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  std::size_t i = 0;
  for (auto& view : out.views) {
    view.n = flat[i++];
    for (auto& x : view.sum_p) x = flat[i++];
    for (auto& s : view.sets) {
      s.entropy_weighted = {bits(flat[i]), bits(flat[i + 1])};
      s.entropy_rows = {bits(flat[i + 2]), bits(flat[i + 3])};
      s.n_rows = flat[i + 4];
      s.n_weight = flat[i + 5];
      s.singleton_entropy_weighted = flat[i + 6];
      s.singleton_weight = flat[i + 7];
      s.singleton_labels = flat[i + 8];
      s.singleton_entropy = flat[i + 9];
      i += kFlatPerSet;
    }
  }
  return out;
}

// --- estimates ---------------------------------------------------------------

namespace {

ViewEstimate estimate_view(const ViewSums& view, std::int64_t n_bins, Weighting weighting) {
  const double log_m = std::log(static_cast<double>(n_bins));
  ViewEstimate out;
  out.n_samples = view.n;
  out.sets.resize(view.sets.size());
  if (view.n == 0) return out;
  const double h_z = entropy_nats(view.sum_p) / log_m;
  out.entropy = h_z;
  for (std::size_t s = 0; s < view.sets.size(); ++s) {
    const SetSums& t = view.sets[s];
    SetEstimate& est = out.sets[s];
    est.n_labels = t.n_rows + t.singleton_labels;
    double conditional = 0.0;
    if (weighting == Weighting::kFrequency) {
      const std::int64_t n_weight = t.n_weight + t.singleton_weight;
      if (n_weight == 0) continue;
      conditional = (t.entropy_weighted.value() + std::ldexp(static_cast<double>(t.singleton_entropy_weighted), -kEntropyBits)) /
                    static_cast<double>(n_weight);
    } else {
      if (est.n_labels == 0) continue;
      conditional = (t.entropy_rows.value() + std::ldexp(static_cast<double>(t.singleton_entropy), -kEntropyBits)) /
                    static_cast<double>(est.n_labels);
    }
    est.mutual_information = h_z - conditional / log_m;
    if (h_z > 0.0) est.regularity = *est.mutual_information / h_z;
  }
  return out;
}

}  // namespace

LayerEstimate estimate(const LayerSums& sums, Weighting weighting, double confidence) {
  IBZOO_CHECK(confidence > 0.0 && confidence < 1.0, "confidence = " << confidence);
  const auto& layout = sums.layout;
  IBZOO_CHECK(static_cast<std::int64_t>(sums.views.size()) == layout.n_views(), "views " << sums.views.size());
  LayerEstimate out;
  out.label_sets = layout.label_sets;
  const auto view_estimate = [&](std::int64_t v) { return estimate_view(sums.views[sz(v)], layout.n_bins, weighting); };
  out.full = view_estimate(0);
  for (std::int64_t b = 0; b < layout.n_bootstrap; ++b) out.bootstrap.push_back(view_estimate(1 + b));
  for (std::int64_t l = 0; l < layout.n_subset_levels; ++l) out.subsets.push_back(view_estimate(1 + layout.n_bootstrap + l));
  out.mi_intervals.resize(layout.label_sets.size());
  if (layout.n_bootstrap == 0) return out;
  const double q_low = 0.5 * (1.0 - confidence);
  const auto interval = [&](const auto& pick) -> std::optional<Interval> {
    std::vector<double> values;
    for (const auto& rep : out.bootstrap) {
      if (const std::optional<double> v = pick(rep)) values.push_back(*v);
    }
    if (values.empty()) return std::nullopt;
    return Interval{*percentile(values, q_low), *percentile(values, 1.0 - q_low)};
  };
  out.entropy_interval = interval([](const ViewEstimate& r) { return r.entropy; });
  for (std::size_t s = 0; s < layout.label_sets.size(); ++s) {
    out.mi_intervals[s] = interval([s](const ViewEstimate& r) { return r.sets[s].mutual_information; });
  }
  return out;
}

// --- EstimatorState ------------------------------------------------------------

EstimatorState::EstimatorState(StateLayout layout, RowShare share, const RowCounts& row_counts)
    : layout_(std::move(layout)), share_(share) {
  if (layout_.n_bins < 2) throw UsageError("n_bins must be >= 2, got " + std::to_string(layout_.n_bins));
  if (layout_.n_bootstrap < 0 || layout_.n_subset_levels < 0 || layout_.n_subset_levels > 40) {
    throw UsageError("bootstrap replicates must be >= 0 and subset levels in 0..40");
  }
  const std::set<std::string> unique(layout_.label_sets.begin(), layout_.label_sets.end());
  if (unique.size() != layout_.label_sets.size()) throw UsageError("label set names must be distinct");
  if (layout_.label_rows.size() != layout_.label_sets.size()) {
    throw UsageError("the layout has " + std::to_string(layout_.label_sets.size()) + " label sets but " +
                     std::to_string(layout_.label_rows.size()) + " row counts");
  }
  IBZOO_CHECK(share_.n_parts >= 1 && share_.part_idx >= 0 && share_.part_idx < share_.n_parts,
              "share " << share_.part_idx << "/" << share_.n_parts);
  check_row_counts(layout_, row_counts);
  const auto m = layout_.n_bins;
  views_.resize(sz(layout_.n_views()));
  for (std::size_t v = 0; v < views_.size(); ++v) {
    View& view = views_[v];
    view.sum_p.assign(sz(m), 0);
    view.tables.resize(layout_.label_sets.size());
    const auto narrow_limit = kNarrowMaxWeight / max_view_weight(layout_, static_cast<std::int64_t>(v));
    for (std::size_t s = 0; s < view.tables.size(); ++s) {
      Table& t = view.tables[s];
      const auto rows = share_.rows_in(layout_.label_rows[s]);
      t.counts.assign(sz(rows), 0);
      const std::span<const std::int64_t> counts = row_counts.empty() ? std::span<const std::int64_t>() : row_counts[s];
      t.mass = RowTable(rows, m, [&](std::int64_t k) {
        return counts.empty() || counts[sz(k * share_.n_parts + share_.part_idx)] > narrow_limit;
      });
    }
  }
}

std::int64_t EstimatorState::table_bytes(const StateLayout& layout, const RowShare& share, const RowCounts& row_counts) {
  check_row_counts(layout, row_counts);
  std::int64_t bytes = 0;
  for (std::size_t s = 0; s < layout.label_rows.size(); ++s) {
    const auto rows = share.rows_in(layout.label_rows[s]);
    std::map<std::int64_t, std::int64_t> narrow;  // rows by the narrow limit of a view
    for (std::int64_t v = 0; v < layout.n_views(); ++v) {
      const auto limit = kNarrowMaxWeight / max_view_weight(layout, v);
      const auto [it, first] = narrow.try_emplace(limit, 0);
      for (std::int64_t k = 0; first && !row_counts.empty() && k < rows; ++k) {
        it->second += row_counts[s][sz(k * share.n_parts + share.part_idx)] <= limit;
      }
      bytes += rows * 8 + RowTable::bytes(rows, it->second, layout.n_bins);
    }
  }
  return bytes;
}

std::int64_t EstimatorState::memory_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& view : views_) {
    for (const auto& t : view.tables) {
      bytes += static_cast<std::int64_t>(t.counts.size() * 8) + t.mass.memory_bytes();
    }
  }
  return bytes;
}

void EstimatorState::add_batch(const SoftAssigner& assigner, const float* z, std::int64_t n_rows,
                               std::span<const std::span<const std::int32_t>> label_ids,
                               std::span<const std::int64_t> doc_ids, int n_threads) {
  IBZOO_CHECK(assigner.n_bins() == layout_.n_bins, assigner.n_bins() << " vs " << layout_.n_bins);
  // Not zeroed: assign() writes every value.
  const auto p = std::make_unique_for_overwrite<float[]>(sz(n_rows * layout_.n_bins));
  const std::int64_t n_chunks = (n_rows + kChunkRows - 1) / kChunkRows;
  const int workers = workers_for(n_chunks, n_threads);
  run_workers(workers, [&](int t) {
    for (std::int64_t c = t; c < n_chunks; c += workers) {
      const std::int64_t begin = c * kChunkRows;
      const std::int64_t rows = std::min(kChunkRows, n_rows - begin);
      assigner.assign(z + begin * assigner.dim(), rows, p.get() + begin * layout_.n_bins, begin);
    }
  });
  add_assignments(p.get(), n_rows, label_ids, doc_ids, n_threads);
}

namespace {

// The batch on the integer grids: each value on the mass grid once, and (when the
// batch adds all of itself) each singleton position's own entropy on the entropy grid
// once, shared by every view and set; by row chunks in parallel.
struct GridBatch {
  std::unique_ptr<std::int64_t[]> mass;  // [n_rows][m], every value written
  std::vector<std::int64_t> h;     // per row; empty unless `all`
};

GridBatch to_grids(const float* p, std::int64_t n_rows, std::int64_t m,
                   std::span<const std::span<const std::int32_t>> label_ids, bool all, int n_threads) {
  GridBatch g{std::make_unique_for_overwrite<std::int64_t[]>(sz(n_rows * m)), std::vector<std::int64_t>(all ? sz(n_rows) : 0, 0)};
  const std::int64_t n_chunks = (n_rows + kChunkRows - 1) / kChunkRows;
  const int chunk_workers = workers_for(n_chunks, n_threads);
  run_workers(chunk_workers, [&](int t) {
    for (std::int64_t c = t; c < n_chunks; c += chunk_workers) {
      for (std::int64_t i = c * kChunkRows; i < std::min(n_rows, (c + 1) * kChunkRows); ++i) {
        const float* src = p + i * m;
        std::int64_t* dst = g.mass.get() + i * m;
        to_mass_units(std::span<const float>(src, sz(m)), std::span<std::int64_t>(dst, sz(m)));
        if (!all) continue;
        for (const auto& ids : label_ids) {
          if (ids[sz(i)] == kSingleton) {
            g.h[sz(i)] = to_entropy_units(entropy_nats(std::span<const float>(src, sz(m))));
            break;
          }
        }
      }
    }
  });
  return g;
}

// Document weights per view ([view][row]; view 0, every weight 1, is left out), computed
// once per run of equal document ids.
std::vector<std::int64_t> document_weights(const StateLayout& layout, std::span<const std::int64_t> doc_ids,
                                           std::int64_t n_rows) {
  const std::int64_t n_views = layout.n_views();
  std::vector<std::int64_t> weights(n_views > 1 ? sz(n_views * n_rows) : 0);
  for (std::int64_t v = 1; v < n_views; ++v) {
    for (std::int64_t i = 0; i < n_rows; ++i) {
      const bool same = i > 0 && doc_ids[sz(i)] == doc_ids[sz(i - 1)];
      weights[sz(v * n_rows + i)] = same ? weights[sz(v * n_rows + i - 1)] : view_weight(layout, v, doc_ids[sz(i)]);
    }
  }
  return weights;
}

// A view's position count and sum of p over the batch (weight_of(i): row i's weight).
template <typename ViewT, typename WeightOf>
void add_view_totals(ViewT& view, const std::int64_t* mass, std::int64_t m, std::int64_t n_rows,
                     const WeightOf& weight_of) {
  for (std::int64_t i = 0; i < n_rows; ++i) {
    const std::int64_t w = weight_of(i);
    if (w == 0) continue;
    view.n += w;
    const std::int64_t* src = mass + i * m;
    for (std::int64_t j = 0; j < m; ++j) view.sum_p[sz(j)] += w * src[j];
  }
  if (view.n > kMaxViewWeight) check_view_weights(std::vector<std::int64_t>{view.n});
}

// The units of work of a batch, (view, -1): n and sum_p, (view, s): table s, numbered
// view * (n_sets + 1) + s + 1, the largest first (by the positions that add a table row;
// every position for the totals), so that threads taking the next free unit finish
// together. Every unit adds to its own sums, so the order changes no result.
std::vector<std::int64_t> units_largest_first(std::span<const std::span<const std::int32_t>> label_ids,
                                              std::int64_t n_views, std::int64_t n_rows) {
  std::vector<std::int64_t> cost{n_rows};
  for (const auto& ids : label_ids) cost.push_back(std::count_if(ids.begin(), ids.end(), [](std::int32_t id) { return id >= 0; }));
  std::vector<std::int64_t> units(sz(n_views) * cost.size());
  std::iota(units.begin(), units.end(), std::int64_t{0});
  std::stable_sort(units.begin(), units.end(), [&](std::int64_t a, std::int64_t b) {
    return cost[sz(a) % cost.size()] > cost[sz(b) % cost.size()];
  });
  return units;
}

// What adding one label set's rows needs besides its table and ids.
struct SetRowsContext {
  const std::int64_t* mass;             // [n_rows][m] on the mass grid
  const std::vector<std::int64_t>& h;   // per row, on the entropy grid (when `all`)
  std::int64_t m;
  const RowShare& share;
  std::int64_t n_table_rows;
  const std::string& name;
  bool all;
};

// Adds a batch to one label set's table: each position's mass to its row (weight_of(i):
// row i's weight), a singleton's entropy to the scalars (when the batch adds all of itself).
template <typename TableT, typename WeightOf>
void add_set_rows(TableT& table, std::span<const std::int32_t> ids, const SetRowsContext& c, const WeightOf& weight_of) {
  const auto n_rows = static_cast<std::int64_t>(ids.size());
  for (std::int64_t i = 0; i < n_rows; ++i) {
    const std::int64_t w = weight_of(i);
    const std::int32_t id = ids[sz(i)];
    if (w == 0 || id == kDropped) continue;
    if (id == kSingleton) {
      if (!c.all) continue;
      table.singleton_entropy_weighted += w * c.h[sz(i)];
      table.singleton_weight += w;
      table.singleton_labels += 1;
      table.singleton_entropy += c.h[sz(i)];
      continue;
    }
    IBZOO_CHECK(id >= 0 && id < c.n_table_rows, "label id " << id << " of set " << c.name << " outside its "
                                                             << c.n_table_rows << " rows");
    if (!c.share.contains(id)) continue;
    const auto k = c.share.local(id);
    table.counts[sz(k)] += w;
    const bool added = table.mass.add(k, c.mass + i * c.m, w, table.counts[sz(k)]);
    IBZOO_CHECK(added, "set " << c.name << ": row " << id << " has " << table.counts[sz(k)]
                              << " weighted positions, more than its count allows for a narrow row");
  }
}

}  // namespace

void EstimatorState::add_assignments(const float* p, std::int64_t n_rows,
                                     std::span<const std::span<const std::int32_t>> label_ids,
                                     std::span<const std::int64_t> doc_ids, int n_threads, Contribution contribution) {
  const std::int64_t m = layout_.n_bins;
  const std::size_t n_sets = layout_.label_sets.size();
  const bool all = contribution == Contribution::kAll;
  IBZOO_CHECK(label_ids.size() == n_sets, label_ids.size() << " label arrays for " << n_sets << " label sets");
  for (const auto& ids : label_ids) IBZOO_CHECK(static_cast<std::int64_t>(ids.size()) == n_rows, "label array size");
  IBZOO_CHECK(layout_.n_views() == 1 || static_cast<std::int64_t>(doc_ids.size()) == n_rows, "doc_ids size");
  const auto grids = to_grids(p, n_rows, m, label_ids, all, n_threads);
  const std::int64_t* mass = grids.mass.get();
  const auto& h = grids.h;
  const auto weights = document_weights(layout_, doc_ids, n_rows);
  const auto weight_of = [&](std::int64_t v, std::int64_t i) -> std::int64_t {
    return v == 0 ? 1 : weights[sz(v * n_rows + i)];
  };
  const auto order = units_largest_first(label_ids, layout_.n_views(), n_rows);
  const auto run_unit = [&](std::int64_t unit) {
    const std::int64_t v = unit / static_cast<std::int64_t>(n_sets + 1);
    const std::int64_t s = unit % static_cast<std::int64_t>(n_sets + 1) - 1;
    View& view = views_[sz(v)];
    const auto weight_of_row = [&](std::int64_t i) { return weight_of(v, i); };
    if (s < 0) {
      if (all) add_view_totals(view, mass, m, n_rows, weight_of_row);
      return;
    }
    add_set_rows(view.tables[sz(s)], label_ids[sz(s)], SetRowsContext{mass, h, m, share_, layout_.label_rows[sz(s)],
                 layout_.label_sets[sz(s)], all}, weight_of_row);
  };
  std::atomic<std::size_t> next{0};
  run_workers(workers_for(static_cast<std::int64_t>(order.size()), n_threads), [&](int) {
    for (std::size_t u = next++; u < order.size(); u = next++) run_unit(order[u]);
  });
}

LayerSums EstimatorState::sums(int n_threads) const {
  LayerSums out(layout_);
  const auto m = sz(layout_.n_bins);
  for (std::size_t v = 0; v < views_.size(); ++v) {
    const View& view = views_[v];
    ViewSums& dst = out.views[v];
    dst.n = view.n;
    dst.sum_p = view.sum_p;
    for (std::size_t s = 0; s < view.tables.size(); ++s) {
      const Table& t = view.tables[s];
      const auto n_rows = static_cast<std::int64_t>(t.counts.size());
      // Row entropies by row chunks in parallel; each chunk's exact partial sums add.
      const std::int64_t n_chunks = (n_rows + 4 * kChunkRows - 1) / (4 * kChunkRows);
      const int workers = workers_for(n_chunks, n_threads);
      std::vector<SetSums> parts(sz(workers));
      run_workers(workers, [&](int w) {
        SetSums& part = parts[sz(w)];
        std::vector<std::int64_t> buf;
        for (std::int64_t c = w; c < n_chunks; c += workers) {
          for (std::int64_t k = c * 4 * kChunkRows; k < std::min(n_rows, (c + 1) * 4 * kChunkRows); ++k) {
            const std::int64_t count = t.counts[sz(k)];
            if (count == 0) continue;
            const double h = entropy_nats(std::span<const std::int64_t>(t.mass.sums(k, buf), m));
            part.entropy_weighted.add(static_cast<double>(count) * h);
            part.entropy_rows.add(h);
            ++part.n_rows;
            part.n_weight += count;
          }
        }
      });
      SetSums& set = dst.sets[s];
      for (const auto& part : parts) {
        set.entropy_weighted.add(part.entropy_weighted);
        set.entropy_rows.add(part.entropy_rows);
        set.n_rows += part.n_rows;
        set.n_weight += part.n_weight;
      }
      set.singleton_entropy_weighted = t.singleton_entropy_weighted;
      set.singleton_weight = t.singleton_weight;
      set.singleton_labels = t.singleton_labels;
      set.singleton_entropy = t.singleton_entropy;
    }
  }
  return out;
}

}  // namespace ibzoo::analysis
