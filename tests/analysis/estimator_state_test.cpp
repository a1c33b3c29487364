// The estimator against an independent naive implementation: direct double
// loops in fp64, std::map of label tuples, positions duplicated by their
// bootstrap weight. Tolerance 1e-5 in efficiency units (the bar; the
// fp32 kernel is typically within 1e-6).
#include "analysis/calibration.h"
#include "errors/error.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>

namespace ibzoo::analysis {
namespace {

constexpr double kTol = 1e-5;

struct Data {
  std::int64_t n = 0, d = 0, m = 0;
  std::vector<float> z;
  std::vector<std::int64_t> docs;
  std::vector<std::vector<std::int64_t>> raw;  // per label set: one value per position
  std::vector<LabelSet> sets;
  ReferencePoints w;
  double eps = 0;
};

Data make_data(std::int64_t n, std::int64_t d, std::int64_t m, std::int64_t min_count = 1, std::uint32_t seed = 1) {
  Data data;
  data.n = n;
  data.d = d;
  data.m = m;
  std::mt19937 rng(seed);  // test data only; values need not be portable
  std::normal_distribution<float> normal(0.0F, 1.0F);
  data.z.resize(static_cast<std::size_t>(n * d));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t k = 0; k < d; ++k) data.z[static_cast<std::size_t>(i * d + k)] = normal(rng) + (k == i % 5 ? 2.5F : 0.0F);
    data.docs.push_back(i / 17);
  }
  std::vector<std::int64_t> a, b, c;
  for (std::int64_t i = 0; i < n; ++i) {
    a.push_back(i % 5);                          // informative, frequent
    b.push_back(static_cast<std::int64_t>(rng() % 40));  // many labels, some singletons
    c.push_back(i < 10 ? 1000 + i : i % 3);      // 10 singletons
  }
  data.raw = {a, b, c};
  for (std::size_t s = 0; s < data.raw.size(); ++s) {
    data.sets.push_back(label_set_from_rows("set" + std::to_string(s), data.raw[s], n, 1, min_count));
  }
  data.w = generate_reference_points(3, m, d);
  data.eps = calibrate_eps(Calibration::kBounds, m, d);
  return data;
}

std::vector<std::span<const std::int32_t>> ids_of(const Data& data, std::int64_t begin = 0, std::int64_t end = -1) {
  if (end < 0) end = data.n;
  std::vector<std::span<const std::int32_t>> out;
  for (const auto& s : data.sets) out.emplace_back(s.ids.data() + begin, static_cast<std::size_t>(end - begin));
  return out;
}

StateLayout layout_of(const Data& data, std::int64_t n_boot = 0, std::int64_t n_levels = 0) {
  StateLayout layout;
  layout.n_bins = data.m;
  for (const auto& s : data.sets) {
    layout.label_sets.push_back(s.name);
    layout.label_rows.push_back(s.n_rows());
  }
  layout.n_bootstrap = n_boot;
  layout.bootstrap_seed = 11;
  layout.n_subset_levels = n_levels;
  layout.subset_seed = 12;
  return layout;
}

EstimatorState run(const Data& data, const StateLayout& layout, std::int64_t begin, std::int64_t end, int threads = 1,
                   std::int64_t batch = 1000000) {
  const SoftAssigner assigner(data.w, data.eps);
  EstimatorState state(layout);
  for (std::int64_t b = begin; b < end; b += batch) {
    const std::int64_t e = std::min(end, b + batch);
    state.add_batch(assigner, data.z.data() + b * data.d, e - b, ids_of(data, b, e),
                    std::span(data.docs).subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b)), threads);
  }
  return state;
}

LayerEstimate estimate_of(const EstimatorState& state, Weighting weighting, double confidence = 0.95) {
  return estimate(state.sums(), weighting, confidence);
}

// --- naive reference -----------------------------------------------------
std::vector<std::vector<double>> naive_p(const Data& data) {
  std::vector<std::vector<double>> p;
  for (std::int64_t i = 0; i < data.n; ++i) {
    double norm = 0;
    for (std::int64_t k = 0; k < data.d; ++k) norm += double(data.z[i * data.d + k]) * data.z[i * data.d + k];
    norm = std::sqrt(norm);
    std::vector<double> s(static_cast<std::size_t>(data.m));
    double mx = -1e300;
    for (std::int64_t j = 0; j < data.m; ++j) {
      double dot = 0;
      for (std::int64_t k = 0; k < data.d; ++k) dot += double(data.z[i * data.d + k]) / norm * data.w.w[j * data.d + k];
      s[j] = dot / data.eps;
      mx = std::max(mx, s[j]);
    }
    double tot = 0;
    for (auto& x : s) tot += (x = std::exp(x - mx));
    for (auto& x : s) x /= tot;
    p.push_back(s);
  }
  return p;
}

double naive_h(const std::vector<double>& mass) {
  double tot = 0, h = 0;
  for (double x : mass) tot += x;
  for (double x : mass) {
    const double q = x / tot;
    h -= q * std::log(std::max(q, 1e-9));
  }
  return h / std::log(static_cast<double>(mass.size()));
}

struct NaiveResult {
  std::optional<double> h;
  std::vector<std::optional<double>> mi;
};

// weight[i]: how many copies of position i (bootstrap) or 0/1 (subset).
NaiveResult naive(const Data& data, const std::vector<std::vector<double>>& p, Weighting weighting,
                  std::int64_t min_count, const std::vector<std::int64_t>& weight) {
  NaiveResult out;
  std::vector<double> total(static_cast<std::size_t>(data.m), 0.0);
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < data.n; ++i) {
    for (int c = 0; c < weight[i]; ++c) {
      for (std::int64_t j = 0; j < data.m; ++j) total[j] += p[i][j];
      ++n;
    }
  }
  if (n == 0) return out;
  out.h = naive_h(total);
  for (const auto& labels : data.raw) {
    std::map<std::int64_t, int> full_count;
    for (auto x : labels) ++full_count[x];
    std::map<std::int64_t, std::vector<double>> mass;
    std::map<std::int64_t, std::int64_t> cnt;
    for (std::int64_t i = 0; i < data.n; ++i) {
      const bool eligible = weighting == Weighting::kFrequency || full_count[labels[i]] >= min_count;
      if (!eligible) continue;
      for (int c = 0; c < weight[i]; ++c) {
        auto& ms = mass[labels[i]];
        ms.resize(static_cast<std::size_t>(data.m), 0.0);
        for (std::int64_t j = 0; j < data.m; ++j) ms[j] += p[i][j];
        ++cnt[labels[i]];
      }
    }
    if (mass.empty()) {
      out.mi.push_back(std::nullopt);
      continue;
    }
    double cond = 0;
    std::int64_t n_incl = 0;
    for (auto& [x, c] : cnt) n_incl += c;
    for (auto& [x, ms] : mass) {
      cond += weighting == Weighting::kFrequency ? static_cast<double>(cnt[x]) / static_cast<double>(n_incl) * naive_h(ms)
                                                  : naive_h(ms) / static_cast<double>(mass.size());
    }
    out.mi.push_back(*out.h - cond);
  }
  return out;
}

void expect_matches(const ViewEstimate& got, const NaiveResult& want, const std::string& what) {
  ASSERT_EQ(got.entropy.has_value(), want.h.has_value()) << what;
  if (!want.h) return;
  EXPECT_NEAR(*got.entropy, *want.h, kTol) << what;
  ASSERT_EQ(got.sets.size(), want.mi.size());
  for (std::size_t s = 0; s < want.mi.size(); ++s) {
    ASSERT_EQ(got.sets[s].mutual_information.has_value(), want.mi[s].has_value()) << what << " set " << s;
    if (want.mi[s]) {
      EXPECT_NEAR(*got.sets[s].mutual_information, *want.mi[s], kTol) << what << " set " << s;
    }
  }
}

void expect_sums_equal(const LayerSums& a, const LayerSums& b, const std::string& what) {
  ASSERT_EQ(a.views.size(), b.views.size()) << what;
  for (std::size_t v = 0; v < a.views.size(); ++v) {
    EXPECT_EQ(a.views[v].n, b.views[v].n) << what << " view " << v;
    EXPECT_EQ(a.views[v].sum_p, b.views[v].sum_p) << what << " view " << v;
    for (std::size_t s = 0; s < a.views[v].sets.size(); ++s) {
      EXPECT_EQ(a.views[v].sets[s], b.views[v].sets[s]) << what << " view " << v << " set " << s;
    }
  }
  EXPECT_EQ(a, b) << what;
}

std::vector<std::int64_t> ones(std::int64_t n) { return std::vector<std::int64_t>(static_cast<std::size_t>(n), 1); }

// --- tests ------------------------------------------------------------------

TEST(EstimatorStateTest, FrequencyWeightingMatchesNaive) {
  const Data data = make_data(400, 24, 20);
  const auto est = estimate_of(run(data, layout_of(data), 0, data.n), Weighting::kFrequency);
  expect_matches(est.full, naive(data, naive_p(data), Weighting::kFrequency, 1, ones(data.n)), "frequency");
  EXPECT_GT(*est.full.sets[0].mutual_information, 0.01);  // the informative label is detected
  EXPECT_NEAR(*est.full.sets[0].regularity, *est.full.sets[0].mutual_information / *est.full.entropy, 1e-15);
}

TEST(EstimatorStateTest, UniformWeightingWithMinCountMatchesNaive) {
  for (const std::int64_t k : {1, 2, 5, 12}) {
    const Data data = make_data(400, 24, 20, k);
    const auto est = estimate_of(run(data, layout_of(data), 0, data.n), Weighting::kUniform);
    expect_matches(est.full, naive(data, naive_p(data), Weighting::kUniform, k, ones(data.n)), "min_count " + std::to_string(k));
  }
}

TEST(EstimatorStateTest, SingletonContributesTheEntropyOfItsOwnAssignment) {
  Data data = make_data(50, 8, 10);
  std::vector<std::int64_t> distinct(50);
  for (int i = 0; i < 50; ++i) distinct[i] = i;
  data.raw = {distinct};
  data.sets = {label_set_from_rows("distinct", distinct, 50, 1)};
  const auto est = estimate_of(run(data, layout_of(data), 0, data.n), Weighting::kFrequency);
  const auto p = naive_p(data);
  double mean_h = 0;
  for (const auto& row : p) mean_h += naive_h(row) / 50;
  EXPECT_NEAR(*est.full.sets[0].mutual_information, *est.full.entropy - mean_h, kTol);
  EXPECT_EQ(est.full.sets[0].n_labels, 50);
}

TEST(EstimatorStateTest, NoLabelReachingMinCountIsUndefined) {
  const Data data = make_data(60, 8, 10, 1000);
  const auto est = estimate_of(run(data, layout_of(data), 0, data.n), Weighting::kUniform);
  ASSERT_TRUE(est.full.entropy.has_value());
  for (const auto& s : est.full.sets) {
    EXPECT_FALSE(s.mutual_information.has_value());
    EXPECT_FALSE(s.regularity.has_value());
  }
  const auto empty = estimate_of(EstimatorState(layout_of(data)), Weighting::kFrequency);
  EXPECT_FALSE(empty.full.entropy.has_value());
}

TEST(EstimatorStateTest, SumsOfDisjointPositionsAddInAnyOrder) {
  const Data data = make_data(500, 16, 12);
  const StateLayout layout = layout_of(data, 3, 2);
  const LayerSums whole = run(data, layout, 0, data.n).sums();
  const LayerSums a = run(data, layout, 0, 170).sums();
  const LayerSums b = run(data, layout, 170, 333).sums();
  const LayerSums c = run(data, layout, 333, data.n).sums();
  LayerSums abc = a;
  abc.add(b);
  abc.add(c);
  LayerSums cba = c;
  cba.add(b);
  cba.add(a);
  expect_sums_equal(abc, cba, "order");
  // n, sum_p and the singleton terms of disjoint positions add up to the whole's
  // exactly (the row terms need whole rows: a team shares rows, not positions).
  for (std::size_t v = 0; v < whole.views.size(); ++v) {
    EXPECT_EQ(abc.views[v].n, whole.views[v].n);
    EXPECT_EQ(abc.views[v].sum_p, whole.views[v].sum_p);
    for (std::size_t s = 0; s < whole.views[v].sets.size(); ++s) {
      EXPECT_EQ(abc.views[v].sets[s].singleton_entropy_weighted, whole.views[v].sets[s].singleton_entropy_weighted);
      EXPECT_EQ(abc.views[v].sets[s].singleton_weight, whole.views[v].sets[s].singleton_weight);
    }
  }
}

TEST(EstimatorStateTest, SumsAreBitwiseIndependentOfThreadsAndBatching) {
  const Data data = make_data(700, 16, 12);
  const StateLayout layout = layout_of(data, 2, 1);
  const auto one = run(data, layout, 0, data.n, 1).sums();
  expect_sums_equal(run(data, layout, 0, data.n, 3).sums(), one, "3 threads");
  expect_sums_equal(run(data, layout, 0, data.n, 2, 37).sums(), one, "batches of 37");
  expect_sums_equal(run(data, layout, 0, data.n, 1).sums(4), one, "4 threads in sums()");
}

TEST(EstimatorStateTest, PositionsInAnyOrderGiveTheSameSums) {
  const Data data = make_data(400, 12, 10);
  const StateLayout layout = layout_of(data, 2, 1);
  const SoftAssigner assigner(data.w, data.eps);
  std::vector<float> p(static_cast<std::size_t>(data.n * data.m));
  assigner.assign(data.z.data(), data.n, p.data());
  EstimatorState forward(layout);
  forward.add_assignments(p.data(), data.n, ids_of(data), data.docs);
  // The same positions backwards, one at a time.
  EstimatorState backward(layout);
  for (std::int64_t i = data.n - 1; i >= 0; --i) {
    std::vector<std::span<const std::int32_t>> ids;
    for (const auto& s : data.sets) ids.emplace_back(s.ids.data() + i, 1);
    backward.add_assignments(p.data() + i * data.m, 1, ids, std::span(data.docs).subspan(static_cast<std::size_t>(i), 1));
  }
  expect_sums_equal(backward.sums(), forward.sums(), "reversed");
}

TEST(EstimatorStateTest, BootstrapReplicatesMatchNaiveResamplingOfDocuments) {
  for (const auto weighting : {Weighting::kFrequency, Weighting::kUniform}) {
    const std::int64_t min_count = weighting == Weighting::kUniform ? 2 : 1;
    const Data data = make_data(300, 12, 10, min_count);
    const StateLayout layout = layout_of(data, 6, 0);
    const auto p = naive_p(data);
    const auto est = estimate_of(run(data, layout, 0, data.n), weighting, 0.9);
    ASSERT_EQ(est.bootstrap.size(), 6U);
    std::vector<double> mi0;
    for (int b = 0; b < 6; ++b) {
      std::vector<std::int64_t> w;
      for (std::int64_t i = 0; i < data.n; ++i) w.push_back(bootstrap_weight(11, data.docs[i], b));
      const auto want = naive(data, p, weighting, min_count, w);
      expect_matches(est.bootstrap[b], want, "replicate " + std::to_string(b));
      mi0.push_back(*want.mi[0]);
    }
    ASSERT_TRUE(est.mi_intervals[0].has_value());
    EXPECT_NEAR(est.mi_intervals[0]->low, *percentile(mi0, 0.05), kTol);
    EXPECT_NEAR(est.mi_intervals[0]->high, *percentile(mi0, 0.95), kTol);
  }
}

TEST(EstimatorStateTest, PoissonWeightsHaveMeanAndVarianceOne) {
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int d = 0; d < n; ++d) {
    const auto w = static_cast<double>(bootstrap_weight(9, d, d % 7));
    sum += w;
    sq += w * w;
  }
  EXPECT_NEAR(sum / n, 1.0, 0.01);
  EXPECT_NEAR(sq / n - (sum / n) * (sum / n), 1.0, 0.02);
}

TEST(EstimatorStateTest, SubsetLevelsAreNestedAndMatchNaive) {
  const Data data = make_data(600, 12, 10);
  const auto est = estimate_of(run(data, layout_of(data, 0, 2), 0, data.n), Weighting::kFrequency);
  const auto p = naive_p(data);
  for (int level = 1; level <= 2; ++level) {
    std::vector<std::int64_t> w;
    for (std::int64_t i = 0; i < data.n; ++i) {
      w.push_back(in_subset(12, data.docs[i], level) ? 1 : 0);
      if (level == 2 && w.back()) {
        EXPECT_TRUE(in_subset(12, data.docs[i], 1));
      }
    }
    expect_matches(est.subsets[level - 1], naive(data, p, Weighting::kFrequency, 1, w), "level " + std::to_string(level));
  }
  EXPECT_LT(est.subsets[1].n_samples, est.subsets[0].n_samples);
}

TEST(EstimatorStateTest, SumsRoundTripThroughFlatIntegersAndRejectInconsistency) {
  const Data data = make_data(200, 8, 10);
  const StateLayout layout = layout_of(data, 2, 1);
  const LayerSums sums = run(data, layout, 0, data.n).sums();
  auto flat = sums.to_flat();
  EXPECT_EQ(flat.size(), 4U * (1U + 10U + 10U * 3U));
  EXPECT_EQ(LayerSums::from_flat(layout, flat), sums);
  flat.pop_back();
  try {
    LayerSums::from_flat(layout, flat);
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("expected 164 integers"), std::string::npos) << e.what();
  }
  LayerSums other(layout_of(data));
  EXPECT_THROW(other.add(sums), UsageError);
}

TEST(EstimatorStateTest, LayoutNeedsOneRowCountPerSet) {
  const Data data = make_data(50, 8, 10);
  StateLayout layout = layout_of(data);
  layout.label_rows.pop_back();
  try {
    EstimatorState state(layout);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("3 label sets but 2 row counts"), std::string::npos) << e.what();
  }
}

TEST(EstimatorStateTest, RowsOnTheMassGridEqualTheValueByValueRounding) {
  // Ties of both parities, the ends of [0, 1], random values; then rows with a value no
  // softmax gives (negative, or above 2^15), which take the value-by-value path.
  std::vector<float> p = {0.0F, -0.0F, 1.0F, std::ldexp(1.0F, -37), std::ldexp(3.0F, -37), std::ldexp(5.0F, -38)};
  std::uint64_t state = 3;
  for (int k = 0; k < 1000; ++k) {
    state = splitmix64(state);
    p.push_back(static_cast<float>(static_cast<double>(state >> 11) * 0x1.0p-53));
  }
  const auto check = [](const std::vector<float>& values) {
    std::vector<std::int64_t> units(values.size());
    to_mass_units(values, units);
    for (std::size_t j = 0; j < values.size(); ++j) EXPECT_EQ(units[j], to_mass_units(values[j])) << values[j];
  };
  check(p);
  for (const float odd : {-0.25F, -1.0F, 40000.0F}) {
    std::vector<float> row = p;
    row.push_back(odd);
    check(row);
  }
}

TEST(EstimatorStateTest, MassAndEntropyGridsRoundToNearest) {
  EXPECT_EQ(to_mass_units(1.0F), std::int64_t{1} << 36);
  EXPECT_EQ(to_mass_units(0.5F), std::int64_t{1} << 35);
  EXPECT_EQ(to_mass_units(0.0F), 0);
  EXPECT_EQ(to_mass_units(std::ldexp(1.0F, -37)), 0);  // half a unit: to even
  EXPECT_EQ(to_mass_units(std::ldexp(3.0F, -37)), 2);  // one and a half units: to even
  EXPECT_EQ(to_entropy_units(std::log(2.0)), std::llround(std::log(2.0) * 0x1.0p32));
  const std::vector<std::int64_t> mass = {1, 1, 2, 0};
  EXPECT_NEAR(entropy_nats(std::span<const std::int64_t>(mass)), -(2 * 0.25 * std::log(0.25) + 0.5 * std::log(0.5)), 1e-15);
  EXPECT_EQ(entropy_nats(std::span<const std::int64_t>(std::vector<std::int64_t>{0, 0})), 0.0);
  EXPECT_THROW(check_view_weights(std::vector<std::int64_t>{10, kMaxViewWeight + 1}), UsageError);
  EXPECT_NO_THROW(check_view_weights(std::vector<std::int64_t>{kMaxViewWeight}));
}

TEST(EstimatorStateTest, ExactSumIsIndependentOfOrderAndNearTheLongDoubleSum) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> terms;
  for (int i = 0; i < 5000; ++i) terms.push_back(std::ldexp(u(rng), static_cast<int>(rng() % 40) - 20));
  ExactSum forward, backward, halves_a, halves_b;
  long double naive = 0;
  for (double t : terms) {
    forward.add(t);
    naive += t;
  }
  for (auto it = terms.rbegin(); it != terms.rend(); ++it) backward.add(*it);
  for (std::size_t i = 0; i < terms.size(); ++i) (i % 2 ? halves_a : halves_b).add(terms[i]);
  halves_b.add(halves_a);
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(forward, halves_b);
  EXPECT_NEAR(forward.value(), static_cast<double>(naive), 1e-15 * static_cast<double>(naive));
  ExactSum carry;
  carry.add(0.75);
  carry.add(0.75);  // the fractions overflow into the whole part
  EXPECT_EQ(carry.whole, 1U);
  EXPECT_EQ(carry.value(), 1.5);
}

TEST(EstimatorStateTest, RowSharesAddToExactlyTheUnsharedSums) {
  // A team of P ranks: rank r runs positions r, r+P, ... (everything of them) and adds
  // every other position's assignments to the rows of its share only.
  const Data data = make_data(600, 12, 10);
  const StateLayout layout = layout_of(data, 3, 2);
  const SoftAssigner assigner(data.w, data.eps);
  std::vector<float> p(static_cast<std::size_t>(data.n * data.m));
  assigner.assign(data.z.data(), data.n, p.data());
  EstimatorState whole(layout);
  whole.add_assignments(p.data(), data.n, ids_of(data), data.docs);
  const auto want = whole.sums();
  for (const std::int64_t n_parts : {1, 2, 3, 7}) {
    LayerSums total(layout);
    std::int64_t bytes = 0;
    for (std::int64_t part = n_parts - 1; part >= 0; --part) {  // any order
      EstimatorState state(layout, RowShare{n_parts, part});
      bytes += state.memory_bytes();
      for (std::int64_t i = 0; i < data.n; ++i) {
        std::vector<std::span<const std::int32_t>> ids;
        for (const auto& s : data.sets) ids.emplace_back(s.ids.data() + i, 1);
        const auto contribution = i % n_parts == part ? Contribution::kAll : Contribution::kRowsOnly;
        state.add_assignments(p.data() + i * data.m, 1, ids, std::span(data.docs).subspan(static_cast<std::size_t>(i), 1), 1,
                              contribution);
      }
      total.add(state.sums());
    }
    expect_sums_equal(total, want, "P=" + std::to_string(n_parts));
    // The shares split the rows; each part rounds its bitmap of wide rows up to a word.
    EXPECT_GE(bytes, whole.memory_bytes()) << "P=" << n_parts;
    EXPECT_LE(bytes, whole.memory_bytes() + n_parts * layout.n_views() * layout.n_sets() * 12) << "P=" << n_parts;
    for (const auto weighting : {Weighting::kFrequency, Weighting::kUniform}) {
      const auto a = estimate(total, weighting);
      const auto b = estimate(want, weighting);
      EXPECT_EQ(a.full.sets[1].mutual_information, b.full.sets[1].mutual_information);
    }
  }
}

RowCounts row_counts_of(const Data& data) {
  RowCounts counts;
  for (const auto& s : data.sets) counts.emplace_back(s.row_counts);
  return counts;
}

TEST(EstimatorStateTest, NarrowCellsHoldTheSameSumsInLessMemory) {
  // Rows of count <= 15 (in views of weight <= 1) keep 40-bit cells when the state
  // knows every row's count: the sums are the wide state's, bit for bit, for every
  // view kind and row share, and table_bytes predicts the memory exactly.
  const Data data = make_data(600, 12, 10);
  const SoftAssigner assigner(data.w, data.eps);
  std::vector<float> p(static_cast<std::size_t>(data.n * data.m));
  assigner.assign(data.z.data(), data.n, p.data());
  const auto counts = row_counts_of(data);
  std::int64_t narrow_rows = 0;
  for (const auto& s : data.sets) narrow_rows += std::count_if(s.row_counts.begin(), s.row_counts.end(), [](auto c) { return c <= 15; });
  ASSERT_GT(narrow_rows, 10);  // the data has both kinds
  for (const auto& layout : {layout_of(data), layout_of(data, 3, 2)}) {
    for (const std::int64_t n_parts : {1, 3}) {
      for (std::int64_t part = 0; part < n_parts; ++part) {
        const RowShare share{n_parts, part};
        EstimatorState wide(layout, share), narrow(layout, share, counts);
        EXPECT_EQ(narrow.memory_bytes(), EstimatorState::table_bytes(layout, share, counts));
        EXPECT_EQ(wide.memory_bytes(), EstimatorState::table_bytes(layout, share));
        EXPECT_LT(narrow.memory_bytes(), wide.memory_bytes());
        for (std::int64_t b = 0; b < data.n; b += 97) {  // batches of 97
          const auto e = std::min(data.n, b + 97);
          const auto docs = std::span(data.docs).subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b));
          wide.add_assignments(p.data() + b * data.m, e - b, ids_of(data, b, e), docs);
          narrow.add_assignments(p.data() + b * data.m, e - b, ids_of(data, b, e), docs, 2);
        }
        expect_sums_equal(narrow.sums(), wide.sums(), "views " + std::to_string(layout.n_views()) + " share " +
                                                          std::to_string(part) + "/" + std::to_string(n_parts));
      }
    }
  }
}

TEST(EstimatorStateTest, NarrowCellsHoldTheLargestSumTheirCountAllows) {
  // 15 positions of one label, each with all its mass in bin 0 (2^36 units): the
  // narrow row sums to 15 x 2^36, just below 2^40; and a row given a count below the
  // positions it gets is an internal error, not a wrapped sum.
  constexpr std::int64_t n = 16, m = 4;
  std::vector<float> p(static_cast<std::size_t>(n * m), 0.0F);
  std::vector<std::int64_t> values(static_cast<std::size_t>(n), 7), docs(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i * m + (i == n - 1 ? 1 : 0))] = 1.0F;
  values.back() = 8;  // a singleton
  const auto set = label_set_from_rows("x", values, n, 1);
  ASSERT_EQ(set.row_counts, std::vector<std::int64_t>{15});
  StateLayout layout;
  layout.n_bins = m;
  layout.label_sets = {"x"};
  layout.label_rows = {1};
  const std::vector<std::span<const std::int32_t>> ids{set.ids};
  EstimatorState wide(layout), narrow(layout, {}, RowCounts{set.row_counts});
  EXPECT_EQ(narrow.memory_bytes(), 8 + 12 + 5 * m);
  wide.add_assignments(p.data(), n, ids, docs);
  narrow.add_assignments(p.data(), n, ids, docs);
  EXPECT_EQ(narrow.sums(), wide.sums());
  EXPECT_EQ(narrow.sums().views[0].sets[0].entropy_weighted.value(), 0.0);  // all of the row's mass in one bin

  // All 16 positions in the row, whose count is given as 15.
  const std::vector<std::int32_t> all_in_row(static_cast<std::size_t>(n), 0);
  const std::vector<std::int64_t> too_few{15};
  EstimatorState lied_to(layout, {}, RowCounts{too_few});
  EXPECT_THROW(lied_to.add_assignments(p.data(), n, std::vector<std::span<const std::int32_t>>{all_in_row}, docs),
               std::logic_error);
}

TEST(EstimatorStateTest, ZeroRowIsReportedWithItsIndex) {
  Data data = make_data(300, 8, 10);
  for (int k = 0; k < 8; ++k) data.z[270 * 8 + k] = 0.0F;
  try {
    run(data, layout_of(data), 0, data.n, 2);
    FAIL();
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("row 270"), std::string::npos) << e.what();
  }
}

TEST(EstimatorStateTest, ShuffledNullIsNearZero) {
  const Data data = make_data(2000, 16, 20);
  const LabelSet null = shuffle_within_documents(data.sets[0], data.docs, 3, "null");
  const SoftAssigner assigner(data.w, data.eps);
  StateLayout layout;
  layout.n_bins = data.m;
  layout.label_sets = {"a", "null"};
  layout.label_rows = {data.sets[0].n_rows(), null.n_rows()};
  EstimatorState state(layout);
  const std::vector<std::span<const std::int32_t>> ids = {data.sets[0].ids, null.ids};
  state.add_batch(assigner, data.z.data(), data.n, ids, data.docs);
  const auto est = estimate_of(state, Weighting::kFrequency);
  EXPECT_GT(*est.full.sets[0].mutual_information, 10 * std::abs(*est.full.sets[1].mutual_information));
}

TEST(SoftEntropyTest, OptimalityAggregatesBothWaysAndGuardsSmallMi) {
  const std::vector<std::optional<double>> x = {0.2, 0.4};
  const std::vector<std::optional<double>> y = {0.1, 0.4};
  const Optimality o = optimality(x, y);
  EXPECT_DOUBLE_EQ(o.mean_of_ratios, 0.75);
  EXPECT_DOUBLE_EQ(o.ratio_of_means, 0.5 / 0.6);
  EXPECT_FALSE(o.mean_of_ratios_guarded);
  const std::vector<std::optional<double>> x0 = {1e-9, 0.4};
  const Optimality g = optimality(x0, y);
  EXPECT_TRUE(std::isnan(g.mean_of_ratios));
  EXPECT_TRUE(g.mean_of_ratios_guarded);
  EXPECT_EQ(g.n_layers_guarded, 1);
  EXPECT_FALSE(g.ratio_of_means_guarded);
  const std::vector<std::optional<double>> xu = {std::nullopt, 0.4};
  EXPECT_TRUE(optimality(xu, y).ratio_of_means_guarded);
  EXPECT_FALSE(mean_over_layers(xu).has_value());
  EXPECT_DOUBLE_EQ(*mean_over_layers(x), 0.30000000000000004);
}

TEST(SoftEntropyTest, BackoffSharesSumToOne) {
  const auto s = backoff_shares(0.8, {0.1, 0.3, 0.35, 0.5});
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->token, 0.125);
  EXPECT_NEAR(s->token + s->bigram + s->trigram + s->quadgram + s->residual, 1.0, 1e-15);
  EXPECT_NEAR(s->residual, 0.3 / 0.8, 1e-15);
  EXPECT_FALSE(backoff_shares(0.8, {0.1, std::nullopt, 0.3, 0.4}).has_value());
}

TEST(SoftEntropyTest, PercentileInterpolatesLikeNumpy) {
  EXPECT_DOUBLE_EQ(*percentile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(*percentile({5}, 0.9), 5.0);
  EXPECT_FALSE(percentile({}, 0.5).has_value());
}

}  // namespace
}  // namespace ibzoo::analysis
