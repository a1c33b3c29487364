// Accumulate, merge, serialise and finalise the estimator's count state.
// Work inside add_batch is split so that every sum keeps position order:
// soft assignments are computed by row chunks in parallel, then each
// (view, label set) table is filled by one thread.
#include "analysis/estimator_state.h"

#include "analysis/check.h"
#include "analysis/error.h"
#include "analysis/labels.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <thread>

namespace ibzoo::analysis {
namespace {

constexpr std::int64_t kChunkRows = 960;  // a multiple of the assigner's panel height
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

// Asks Linux to back the 2 MiB-aligned part of [data, data + bytes) with transparent huge
// pages. The reduce's tables are gigabytes filled row by row in first-touch order: with
// 4 KiB pages, the page faults took ~15% of a reduce (and their TLB misses slow the
// random row adds). Only a hint: where it is refused or unknown, nothing changes.
void advise_huge_pages(const void* data, std::size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const auto begin = (start + kHuge - 1) & ~(kHuge - 1);
  const auto end = (start + bytes) & ~(kHuge - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// Runs fn(worker) for worker = 0 .. n_threads-1, on n_threads - 1 extra threads.
template <typename Fn>
void run_workers(int n_threads, const Fn& fn) {
  if (n_threads <= 1) {
    fn(0);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n_threads - 1));
  for (int t = 1; t < n_threads; ++t) threads.emplace_back([&fn, t] { fn(t); });
  fn(0);
  for (auto& th : threads) th.join();
}

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

}  // namespace

std::string to_string(Weighting weighting) {
  return weighting == Weighting::kFrequency ? "frequency" : "uniform";
}

Weighting parse_weighting(const std::string& text) {
  if (text == "frequency") return Weighting::kFrequency;
  if (text == "uniform") return Weighting::kUniform;
  throw UsageError("weighting must be 'frequency' or 'uniform', got '" + text + "'");
}

std::int64_t bootstrap_weight(std::uint64_t seed, std::int64_t doc_id, std::int64_t replicate) {
  static const PoissonTable table;
  const std::uint64_t key = splitmix64(splitmix64(seed) ^ splitmix64(static_cast<std::uint64_t>(doc_id))) ^
                            static_cast<std::uint64_t>(replicate);
  const double u = static_cast<double>(splitmix64(key) >> 11) * 0x1.0p-53;
  std::int64_t k = 0;
  while (k + 1 < static_cast<std::int64_t>(table.cdf.size()) && u >= table.cdf[sz(k)]) ++k;
  return k;
}

bool in_subset(std::uint64_t seed, std::int64_t doc_id, std::int64_t level) {
  IBZOO_CHECK(level >= 1 && level < 64, "level = " << level);
  const std::uint64_t h = splitmix64(splitmix64(seed) ^ splitmix64(static_cast<std::uint64_t>(doc_id)));
  return (h >> (64 - level)) == 0;
}

std::size_t EstimatorState::Table::slot(std::int64_t id, std::int64_t n_bins) {
  if (!dense_slot.empty()) {
    IBZOO_CHECK(id >= 0 && sz(id) < dense_slot.size(), "row id " << id << " outside the reserved " << dense_slot.size());
    auto& k = dense_slot[sz(id)];
    if (k < 0) {
      k = static_cast<std::int32_t>(ids.size());
      ids.push_back(id);
      counts.push_back(0);
      sums.resize(sums.size() + sz(n_bins), 0.0);
    }
    return sz(k);
  }
  const auto [it, inserted] = slot_of.try_emplace(static_cast<std::int32_t>(id), static_cast<std::int32_t>(ids.size()));
  if (inserted) {
    ids.push_back(id);
    counts.push_back(0);
    sums.resize(sums.size() + sz(n_bins), 0.0);
  }
  return sz(it->second);
}

EstimatorState::EstimatorState(StateLayout layout) : layout_(std::move(layout)) {
  if (layout_.n_bins < 2) throw UsageError("n_bins must be >= 2, got " + std::to_string(layout_.n_bins));
  if (layout_.n_bootstrap < 0 || layout_.n_subset_levels < 0 || layout_.n_subset_levels > 40) {
    throw UsageError("bootstrap replicates must be >= 0 and subset levels in 0..40");
  }
  const std::set<std::string> unique(layout_.label_sets.begin(), layout_.label_sets.end());
  if (unique.size() != layout_.label_sets.size()) throw UsageError("label set names must be distinct");
  views_.resize(sz(layout_.n_views()));
  for (auto& view : views_) {
    view.sum_p.assign(sz(layout_.n_bins), 0.0);
    view.tables.resize(layout_.label_sets.size());
  }
}

std::int64_t EstimatorState::weight(std::int64_t view_idx, std::int64_t doc_id) const {
  if (view_idx == 0) return 1;
  if (view_idx <= layout_.n_bootstrap) return bootstrap_weight(layout_.bootstrap_seed, doc_id, view_idx - 1);
  return in_subset(layout_.subset_seed, doc_id, view_idx - layout_.n_bootstrap) ? 1 : 0;
}

void EstimatorState::add_batch(const SoftAssigner& assigner, const float* z, std::int64_t n_rows,
                               std::span<const std::span<const std::int32_t>> label_ids,
                               std::span<const std::int64_t> doc_ids, int n_threads) {
  IBZOO_CHECK(assigner.n_bins() == layout_.n_bins, assigner.n_bins() << " vs " << layout_.n_bins);
  std::vector<float> p(sz(n_rows * layout_.n_bins));
  const std::int64_t n_chunks = (n_rows + kChunkRows - 1) / kChunkRows;
  const int workers = static_cast<int>(std::clamp<std::int64_t>(n_chunks, 1, std::max(1, n_threads)));
  std::vector<std::exception_ptr> errors(sz(workers));
  run_workers(workers, [&](int t) {
    try {
      for (std::int64_t c = t; c < n_chunks; c += workers) {
        const std::int64_t begin = c * kChunkRows;
        const std::int64_t rows = std::min(kChunkRows, n_rows - begin);
        assigner.assign(z + begin * assigner.dim(), rows, p.data() + begin * layout_.n_bins, begin);
      }
    } catch (...) {
      errors[sz(t)] = std::current_exception();
    }
  });
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  add_assignments(p.data(), n_rows, label_ids, doc_ids, n_threads);
}

void EstimatorState::add_assignments(const float* p, std::int64_t n_rows,
                                     std::span<const std::span<const std::int32_t>> label_ids,
                                     std::span<const std::int64_t> doc_ids, int n_threads, const RowShare& share) {
  const std::int64_t m = layout_.n_bins;
  const std::size_t n_sets = layout_.label_sets.size();
  IBZOO_CHECK(label_ids.size() == n_sets, label_ids.size() << " label arrays for " << n_sets << " label sets");
  for (const auto& ids : label_ids) IBZOO_CHECK(static_cast<std::int64_t>(ids.size()) == n_rows, "label array size");
  IBZOO_CHECK(layout_.n_views() == 1 || static_cast<std::int64_t>(doc_ids.size()) == n_rows, "doc_ids size");

  // Entropy of each singleton position's own assignment (shared by all views and sets),
  // by row chunks in parallel (each value depends only on its row).
  std::vector<double> h(sz(n_rows), 0.0);
  const std::int64_t n_h_chunks = (n_rows + kChunkRows - 1) / kChunkRows;
  const int h_workers = static_cast<int>(std::clamp<std::int64_t>(n_h_chunks, 1, std::max(1, n_threads)));
  run_workers(h_workers, [&](int t) {
    for (std::int64_t c = t; c < n_h_chunks; c += h_workers) {
      for (std::int64_t i = c * kChunkRows; i < std::min(n_rows, (c + 1) * kChunkRows); ++i) {
        for (const auto& ids : label_ids) {
          if (ids[sz(i)] == kSingleton) {
            h[sz(i)] = entropy_nats(std::span<const float>(p + i * m, sz(m)));
            break;
          }
        }
      }
    }
  });
  // Document weights per view, computed once per run of equal document ids.
  const std::int64_t n_views = layout_.n_views();
  std::vector<std::int64_t> weights(n_views > 1 ? sz(n_views * n_rows) : 0);
  for (std::int64_t v = 1; v < n_views; ++v) {
    for (std::int64_t i = 0; i < n_rows; ++i) {
      const bool same = i > 0 && doc_ids[sz(i)] == doc_ids[sz(i - 1)];
      weights[sz(v * n_rows + i)] = same ? weights[sz(v * n_rows + i - 1)] : weight(v, doc_ids[sz(i)]);
    }
  }
  const auto weight_of = [&](std::int64_t v, std::int64_t i) -> std::int64_t {
    return v == 0 ? 1 : weights[sz(v * n_rows + i)];
  };
  // Units of work: (view, -1) = n and sum_p; (view, s) = table s. Each unit runs in position order.
  const auto n_units = n_views * static_cast<std::int64_t>(n_sets + 1);
  const auto run_unit = [&](std::int64_t unit) {
    const std::int64_t v = unit / static_cast<std::int64_t>(n_sets + 1);
    const std::int64_t s = unit % static_cast<std::int64_t>(n_sets + 1) - 1;
    View& view = views_[sz(v)];
    if (s < 0) {
      for (std::int64_t i = 0; i < n_rows; ++i) {
        const std::int64_t w = weight_of(v, i);
        if (w == 0) continue;
        view.n += w;
        const auto wd = static_cast<double>(w);
        const float* src = p + i * m;
        for (std::int64_t j = 0; j < m; ++j) view.sum_p[sz(j)] += wd * static_cast<double>(src[j]);
      }
      return;
    }
    Table& table = view.tables[sz(s)];
    const auto& ids = label_ids[sz(s)];
    for (std::int64_t i = 0; i < n_rows; ++i) {
      const std::int64_t w = weight_of(v, i);
      const std::int32_t id = ids[sz(i)];
      if (w == 0 || id == kDropped) continue;
      if (id == kSingleton) {
        table.singleton_entropy_weighted += static_cast<double>(w) * h[sz(i)];
        table.singleton_weight += w;
        table.singleton_labels += 1;
        table.singleton_entropy += h[sz(i)];
        continue;
      }
      IBZOO_CHECK(id >= 0, "label id " << id);
      if (!share.contains(id)) continue;
      const auto k = table.slot(id, m);
      table.counts[k] += w;
      double* dst = table.sums.data() + k * sz(m);
      const auto wd = static_cast<double>(w);
      const float* src = p + i * m;
      for (std::int64_t j = 0; j < m; ++j) dst[j] += wd * static_cast<double>(src[j]);
    }
  };
  const int workers = static_cast<int>(std::clamp<std::int64_t>(n_units, 1, std::max(1, n_threads)));
  run_workers(workers, [&](int t) {
    for (std::int64_t u = t; u < n_units; u += workers) run_unit(u);
  });
}

void EstimatorState::reserve_rows(std::span<const std::int64_t> rows_per_set, const RowShare& share) {
  IBZOO_CHECK(rows_per_set.size() == layout_.label_sets.size(), rows_per_set.size() << " row counts for "
                                                                  << layout_.label_sets.size() << " label sets");
  const auto m = sz(layout_.n_bins);
  for (std::size_t v = 0; v < views_.size(); ++v) {
    for (std::size_t s = 0; s < rows_per_set.size(); ++s) {
      const auto rows = sz((std::max<std::int64_t>(0, rows_per_set[s]) + share.n_parts - 1) / share.n_parts);
      Table& table = views_[v].tables[s];
      table.ids.reserve(rows);
      table.counts.reserve(rows);
      table.sums.reserve(rows * m);
      advise_huge_pages(table.sums.data(), table.sums.capacity() * sizeof(double));
      IBZOO_CHECK(table.ids.empty(), "reserve_rows on a state that already has rows");
      table.dense_slot.assign(sz(std::max<std::int64_t>(0, rows_per_set[s])), -1);
    }
  }
}

StateVectors EstimatorState::to_vectors() const {
  StateVectors out{layout_, {}};
  const auto m = sz(layout_.n_bins);
  for (const View& view : views_) {
    ViewVectors vv{view.n, view.sum_p, {}};
    for (const Table& table : view.tables) {
      std::vector<std::size_t> order(table.ids.size());
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return table.ids[a] < table.ids[b]; });
      TableVectors tv;
      tv.ids.reserve(order.size());
      tv.counts.reserve(order.size());
      tv.sums.reserve(order.size() * m);
      for (const std::size_t k : order) {
        tv.ids.push_back(table.ids[k]);
        tv.counts.push_back(table.counts[k]);
        tv.sums.insert(tv.sums.end(), table.sums.begin() + static_cast<std::ptrdiff_t>(k * m),
                       table.sums.begin() + static_cast<std::ptrdiff_t>((k + 1) * m));
      }
      tv.singleton_entropy_weighted = table.singleton_entropy_weighted;
      tv.singleton_weight = table.singleton_weight;
      tv.singleton_labels = table.singleton_labels;
      tv.singleton_entropy = table.singleton_entropy;
      vv.tables.push_back(std::move(tv));
    }
    out.views.push_back(std::move(vv));
  }
  return out;
}

EstimatorState EstimatorState::from_vectors(const StateVectors& vectors) { return from_vectors(vectors, RowShare{}); }

EstimatorState EstimatorState::from_vectors(const StateVectors& vectors, const RowShare& share) {
  IBZOO_CHECK(share.n_parts >= 1 && share.part_idx >= 0 && share.part_idx < share.n_parts,
              "share " << share.part_idx << "/" << share.n_parts);
  EstimatorState state(vectors.layout);
  const auto m = sz(vectors.layout.n_bins);
  const auto bad = [](const std::string& what) {
    return CorruptDataError("estimator state: " + what + "; the state file is damaged or from another layout");
  };
  if (vectors.views.size() != state.views_.size()) {
    throw bad("expected " + std::to_string(state.views_.size()) + " views, found " +
              std::to_string(vectors.views.size()));
  }
  for (std::size_t v = 0; v < vectors.views.size(); ++v) {
    const ViewVectors& vv = vectors.views[v];
    View& view = state.views_[v];
    if (vv.sum_p.size() != m) throw bad("view " + std::to_string(v) + " sum_p has " + std::to_string(vv.sum_p.size()) + " entries, expected " + std::to_string(m));
    if (vv.tables.size() != view.tables.size()) throw bad("view " + std::to_string(v) + " has " + std::to_string(vv.tables.size()) + " tables, expected " + std::to_string(view.tables.size()));
    if (vv.n < 0) throw bad("view " + std::to_string(v) + " has negative n");
    view.n = vv.n;
    view.sum_p = vv.sum_p;
    for (std::size_t s = 0; s < vv.tables.size(); ++s) {
      const TableVectors& tv = vv.tables[s];
      Table& table = view.tables[s];
      if (tv.counts.size() != tv.ids.size() || tv.sums.size() != tv.ids.size() * m) {
        throw bad("table '" + vectors.layout.label_sets[s] + "' of view " + std::to_string(v) +
                  " has inconsistent ids/counts/sums sizes");
      }
      for (std::size_t k = 0; k < tv.ids.size(); ++k) {
        if (tv.ids[k] < 0 || tv.ids[k] > INT32_MAX || tv.counts[k] < 0 || table.slot_of.count(static_cast<std::int32_t>(tv.ids[k]))) {
          throw bad("table '" + vectors.layout.label_sets[s] + "' has an invalid or repeated row id " + std::to_string(tv.ids[k]));
        }
        if (!share.contains(tv.ids[k])) continue;
        const auto slot = table.slot(tv.ids[k], static_cast<std::int64_t>(m));
        std::copy_n(tv.sums.begin() + static_cast<std::ptrdiff_t>(k * m), m, table.sums.begin() + static_cast<std::ptrdiff_t>(slot * m));
        table.counts[slot] = tv.counts[k];
      }
      table.singleton_entropy_weighted = tv.singleton_entropy_weighted;
      table.singleton_weight = tv.singleton_weight;
      table.singleton_labels = tv.singleton_labels;
      table.singleton_entropy = tv.singleton_entropy;
    }
  }
  return state;
}

void EstimatorState::add(const EstimatorState& other) {
  if (!(layout_ == other.layout_)) {
    throw UsageError("cannot merge estimator states with different layouts (bins, label sets, bootstrap or subsets)");
  }
  const std::int64_t m = layout_.n_bins;
  for (std::size_t v = 0; v < views_.size(); ++v) {
    auto& dst = views_[v];
    const auto& src = other.views_[v];
    dst.n += src.n;
    for (std::size_t j = 0; j < dst.sum_p.size(); ++j) dst.sum_p[j] += src.sum_p[j];
    for (std::size_t s = 0; s < dst.tables.size(); ++s) {
      auto& dt = dst.tables[s];
      const auto& st = src.tables[s];
      for (std::size_t k = 0; k < st.ids.size(); ++k) {
        const auto slot = dt.slot(st.ids[k], m);
        dt.counts[slot] += st.counts[k];
        double* row = dt.sums.data() + slot * sz(m);
        for (std::int64_t j = 0; j < m; ++j) row[j] += st.sums[k * sz(m) + sz(j)];
      }
      dt.singleton_entropy_weighted += st.singleton_entropy_weighted;
      dt.singleton_weight += st.singleton_weight;
      dt.singleton_labels += st.singleton_labels;
      dt.singleton_entropy += st.singleton_entropy;
    }
  }
}

EstimatorState merge(const EstimatorState& a, const EstimatorState& b) {
  EstimatorState out = a;
  out.add(b);
  return out;
}

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

std::vector<std::int64_t> ConditionalSums::to_flat() const {
  std::vector<std::int64_t> flat;
  for (const auto& view : views) {
    for (const auto& set : view) {
      flat.push_back(static_cast<std::int64_t>(set.weighted_entropy.whole));
      flat.push_back(static_cast<std::int64_t>(set.weighted_entropy.fraction));
      flat.push_back(set.n_rows);
      flat.push_back(set.n_weight);
    }
  }
  return flat;
}

ConditionalSums ConditionalSums::from_flat(std::span<const std::int64_t> flat, std::int64_t n_views, std::int64_t n_sets) {
  if (n_views < 0 || n_sets < 0 || flat.size() != sz(4 * n_views * n_sets)) {
    throw CorruptDataError("conditional sums: expected " + std::to_string(4 * n_views * n_sets) + " integers (" +
                           std::to_string(n_views) + " views x " + std::to_string(n_sets) + " label sets x 4), got " +
                           std::to_string(flat.size()));
  }
  ConditionalSums out;
  out.views.assign(sz(n_views), std::vector<Set>(sz(n_sets)));
  std::size_t i = 0;
  for (auto& view : out.views) {
    for (auto& set : view) {
      set.weighted_entropy.whole = static_cast<std::uint64_t>(flat[i++]);
      set.weighted_entropy.fraction = static_cast<std::uint64_t>(flat[i++]);
      set.n_rows = flat[i++];
      set.n_weight = flat[i++];
    }
  }
  return out;
}

ConditionalSums add_sums(const ConditionalSums& a, const ConditionalSums& b) {
  const auto same_shape = [&] {
    if (a.views.size() != b.views.size()) return false;
    for (std::size_t v = 0; v < a.views.size(); ++v) {
      if (a.views[v].size() != b.views[v].size()) return false;
    }
    return true;
  };
  if (!same_shape()) throw UsageError("cannot add conditional sums of different layouts (views or label sets)");
  ConditionalSums out = a;
  for (std::size_t v = 0; v < out.views.size(); ++v) {
    for (std::size_t s = 0; s < out.views[v].size(); ++s) {
      auto& dst = out.views[v][s];
      const auto& src = b.views[v][s];
      dst.weighted_entropy.add(src.weighted_entropy);
      dst.n_rows += src.n_rows;
      dst.n_weight += src.n_weight;
    }
  }
  return out;
}

ConditionalSums EstimatorState::conditional_sums(Weighting weighting) const {
  const auto m = sz(layout_.n_bins);
  ConditionalSums out;
  for (const View& view : views_) {
    std::vector<ConditionalSums::Set> sets(view.tables.size());
    for (std::size_t s = 0; s < view.tables.size(); ++s) {
      const Table& t = view.tables[s];
      for (std::size_t k = 0; k < t.ids.size(); ++k) {
        if (t.counts[k] == 0) continue;
        const double h = entropy_nats(std::span<const double>(t.sums.data() + k * m, m));
        sets[s].weighted_entropy.add(weighting == Weighting::kFrequency ? static_cast<double>(t.counts[k]) * h : h);
        sets[s].n_weight += t.counts[k];
        ++sets[s].n_rows;
      }
    }
    out.views.push_back(std::move(sets));
  }
  return out;
}

ViewEstimate EstimatorState::estimate_view(const View& view, const std::vector<ConditionalSums::Set>& rows,
                                           Weighting weighting) const {
  const double log_m = std::log(static_cast<double>(layout_.n_bins));
  ViewEstimate out;
  out.n_samples = view.n;
  out.sets.resize(view.tables.size());
  if (view.n == 0) return out;
  const double h_z = entropy_nats(view.sum_p) / log_m;
  out.entropy = h_z;
  for (std::size_t s = 0; s < view.tables.size(); ++s) {
    const Table& t = view.tables[s];
    const double weighted_h = rows[s].weighted_entropy.value();
    const std::int64_t n_rows = rows[s].n_rows;
    std::int64_t n_weight = rows[s].n_weight;
    SetEstimate& est = out.sets[s];
    double conditional = 0.0;
    if (weighting == Weighting::kFrequency) {
      n_weight += t.singleton_weight;
      est.n_labels = n_rows + t.singleton_labels;
      if (n_weight == 0) continue;
      conditional = (weighted_h + t.singleton_entropy_weighted) / static_cast<double>(n_weight);
    } else {
      est.n_labels = n_rows + t.singleton_labels;
      if (est.n_labels == 0) continue;
      conditional = (weighted_h + t.singleton_entropy) / static_cast<double>(est.n_labels);
    }
    est.mutual_information = h_z - conditional / log_m;
    if (h_z > 0.0) est.regularity = *est.mutual_information / h_z;
  }
  return out;
}

LayerEstimate EstimatorState::estimate(Weighting weighting, double confidence) const {
  return estimate(weighting, conditional_sums(weighting), confidence);
}

LayerEstimate EstimatorState::estimate(Weighting weighting, const ConditionalSums& rows_total, double confidence) const {
  IBZOO_CHECK(confidence > 0.0 && confidence < 1.0, "confidence = " << confidence);
  if (rows_total.views.size() != views_.size()) {
    throw UsageError("conditional sums have " + std::to_string(rows_total.views.size()) + " views, the state has " +
                     std::to_string(views_.size()));
  }
  for (const auto& v : rows_total.views) {
    if (v.size() != layout_.label_sets.size()) throw UsageError("conditional sums have another number of label sets");
  }
  LayerEstimate out;
  out.label_sets = layout_.label_sets;
  const auto view_estimate = [&](std::int64_t v) { return estimate_view(views_[sz(v)], rows_total.views[sz(v)], weighting); };
  out.full = view_estimate(0);
  for (std::int64_t b = 0; b < layout_.n_bootstrap; ++b) out.bootstrap.push_back(view_estimate(1 + b));
  for (std::int64_t l = 0; l < layout_.n_subset_levels; ++l) {
    out.subsets.push_back(view_estimate(1 + layout_.n_bootstrap + l));
  }
  const double q_low = 0.5 * (1.0 - confidence);
  const auto interval = [&](const auto& pick) -> std::optional<Interval> {
    std::vector<double> values;
    for (const auto& rep : out.bootstrap) {
      if (const std::optional<double> v = pick(rep)) values.push_back(*v);
    }
    if (values.empty()) return std::nullopt;
    return Interval{*percentile(values, q_low), *percentile(values, 1.0 - q_low)};
  };
  out.mi_intervals.resize(layout_.label_sets.size());
  if (layout_.n_bootstrap == 0) return out;
  out.entropy_interval = interval([](const ViewEstimate& r) { return r.entropy; });
  for (std::size_t s = 0; s < layout_.label_sets.size(); ++s) {
    out.mi_intervals[s] = interval([s](const ViewEstimate& r) { return r.sets[s].mutual_information; });
  }
  return out;
}

std::int64_t EstimatorState::memory_bytes() const {
  std::size_t bytes = 0;
  for (const View& view : views_) {
    bytes += view.sum_p.capacity() * sizeof(double);
    for (const Table& t : view.tables) {
      bytes += t.sums.capacity() * sizeof(double) + (t.ids.capacity() + t.counts.capacity()) * sizeof(std::int64_t) +
               t.slot_of.size() * 32 + t.slot_of.bucket_count() * sizeof(void*) + t.dense_slot.size() * sizeof(std::int32_t);
    }
  }
  return static_cast<std::int64_t>(bytes);
}

}  // namespace ibzoo::analysis
