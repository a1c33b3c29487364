// The estimator against an independent naive implementation: direct double
// loops in fp64, std::map of label tuples, positions duplicated by their
// bootstrap weight. Tolerance 1e-5 in efficiency units (the bar; the
// fp32 kernel is typically within 1e-6).
#include "analysis/calibration.h"
#include "analysis/error.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"

#include <gtest/gtest.h>

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
  for (const auto& s : data.sets) layout.label_sets.push_back(s.name);
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

void expect_states_near(const EstimatorState& a, const EstimatorState& b, double rel) {
  const StateVectors va = a.to_vectors();
  const StateVectors vb = b.to_vectors();
  ASSERT_EQ(va.views.size(), vb.views.size());
  for (std::size_t v = 0; v < va.views.size(); ++v) {
    EXPECT_EQ(va.views[v].n, vb.views[v].n);
    for (std::size_t j = 0; j < va.views[v].sum_p.size(); ++j) {
      EXPECT_NEAR(va.views[v].sum_p[j], vb.views[v].sum_p[j], rel * (1 + std::abs(va.views[v].sum_p[j])));
    }
    for (std::size_t s = 0; s < va.views[v].tables.size(); ++s) {
      const auto& ta = va.views[v].tables[s];
      const auto& tb = vb.views[v].tables[s];
      EXPECT_EQ(ta.ids, tb.ids);
      EXPECT_EQ(ta.counts, tb.counts);
      EXPECT_EQ(ta.singleton_weight, tb.singleton_weight);
      EXPECT_EQ(ta.singleton_labels, tb.singleton_labels);
      EXPECT_NEAR(ta.singleton_entropy, tb.singleton_entropy, rel * (1 + ta.singleton_entropy));
      EXPECT_NEAR(ta.singleton_entropy_weighted, tb.singleton_entropy_weighted, rel * (1 + ta.singleton_entropy_weighted));
      ASSERT_EQ(ta.sums.size(), tb.sums.size());
      for (std::size_t k = 0; k < ta.sums.size(); ++k) EXPECT_NEAR(ta.sums[k], tb.sums[k], rel * (1 + ta.sums[k]));
    }
  }
}

std::vector<std::int64_t> ones(std::int64_t n) { return std::vector<std::int64_t>(static_cast<std::size_t>(n), 1); }

// --- tests ------------------------------------------------------------------

TEST(EstimatorStateTest, FrequencyWeightingMatchesNaive) {
  const Data data = make_data(400, 24, 20);
  const auto est = run(data, layout_of(data), 0, data.n).estimate(Weighting::kFrequency);
  expect_matches(est.full, naive(data, naive_p(data), Weighting::kFrequency, 1, ones(data.n)), "frequency");
  EXPECT_GT(*est.full.sets[0].mutual_information, 0.01);  // the informative label is detected
  EXPECT_NEAR(*est.full.sets[0].regularity, *est.full.sets[0].mutual_information / *est.full.entropy, 1e-15);
}

TEST(EstimatorStateTest, UniformWeightingWithMinCountMatchesNaive) {
  for (const std::int64_t k : {1, 2, 5, 12}) {
    const Data data = make_data(400, 24, 20, k);
    const auto est = run(data, layout_of(data), 0, data.n).estimate(Weighting::kUniform);
    expect_matches(est.full, naive(data, naive_p(data), Weighting::kUniform, k, ones(data.n)), "min_count " + std::to_string(k));
  }
}

TEST(EstimatorStateTest, SingletonContributesTheEntropyOfItsOwnAssignment) {
  Data data = make_data(50, 8, 10);
  std::vector<std::int64_t> distinct(50);
  for (int i = 0; i < 50; ++i) distinct[i] = i;
  data.raw = {distinct};
  data.sets = {label_set_from_rows("distinct", distinct, 50, 1)};
  const auto est = run(data, layout_of(data), 0, data.n).estimate(Weighting::kFrequency);
  const auto p = naive_p(data);
  double mean_h = 0;
  for (const auto& row : p) mean_h += naive_h(row) / 50;
  EXPECT_NEAR(*est.full.sets[0].mutual_information, *est.full.entropy - mean_h, kTol);
  EXPECT_EQ(est.full.sets[0].n_labels, 50);
}

TEST(EstimatorStateTest, NoLabelReachingMinCountIsUndefined) {
  const Data data = make_data(60, 8, 10, 1000);
  const auto est = run(data, layout_of(data), 0, data.n).estimate(Weighting::kUniform);
  ASSERT_TRUE(est.full.entropy.has_value());
  for (const auto& s : est.full.sets) {
    EXPECT_FALSE(s.mutual_information.has_value());
    EXPECT_FALSE(s.regularity.has_value());
  }
  const auto empty = EstimatorState(layout_of(data)).estimate(Weighting::kFrequency);
  EXPECT_FALSE(empty.full.entropy.has_value());
}

TEST(EstimatorStateTest, MergingTwoHalvesEqualsOnePassAndIsAssociative) {
  const Data data = make_data(500, 16, 12);
  const StateLayout layout = layout_of(data, 3, 2);
  const EstimatorState whole = run(data, layout, 0, data.n);
  const EstimatorState a = run(data, layout, 0, 170);
  const EstimatorState b = run(data, layout, 170, 333);
  const EstimatorState c = run(data, layout, 333, data.n);
  expect_states_near(merge(merge(a, b), c), whole, 1e-12);
  expect_states_near(merge(a, merge(b, c)), merge(merge(a, b), c), 1e-12);
  expect_states_near(merge(c, merge(a, b)), whole, 1e-12);
  const auto e1 = merge(merge(a, b), c).estimate(Weighting::kFrequency);
  const auto e2 = whole.estimate(Weighting::kFrequency);
  EXPECT_NEAR(*e1.full.sets[1].mutual_information, *e2.full.sets[1].mutual_information, 1e-12);
}

TEST(EstimatorStateTest, ResultIsBitwiseIndependentOfThreadsAndNearlyOfBatching) {
  const Data data = make_data(700, 16, 12);
  const StateLayout layout = layout_of(data, 2, 1);
  const auto one = run(data, layout, 0, data.n, 1).to_vectors();
  const auto three = run(data, layout, 0, data.n, 3).to_vectors();
  for (std::size_t v = 0; v < one.views.size(); ++v) {
    EXPECT_EQ(one.views[v].sum_p, three.views[v].sum_p);
    for (std::size_t s = 0; s < one.views[v].tables.size(); ++s) EXPECT_EQ(one.views[v].tables[s].sums, three.views[v].tables[s].sums);
  }
  expect_states_near(run(data, layout, 0, data.n, 2, 37), run(data, layout, 0, data.n, 1), 1e-12);
}

TEST(EstimatorStateTest, BootstrapReplicatesMatchNaiveResamplingOfDocuments) {
  for (const auto weighting : {Weighting::kFrequency, Weighting::kUniform}) {
    const std::int64_t min_count = weighting == Weighting::kUniform ? 2 : 1;
    const Data data = make_data(300, 12, 10, min_count);
    const StateLayout layout = layout_of(data, 6, 0);
    const auto p = naive_p(data);
    const auto est = run(data, layout, 0, data.n).estimate(weighting, 0.9);
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
  const auto est = run(data, layout_of(data, 0, 2), 0, data.n).estimate(Weighting::kFrequency);
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

TEST(EstimatorStateTest, VectorsRoundTripAndRejectInconsistency) {
  const Data data = make_data(200, 8, 10);
  const EstimatorState state = run(data, layout_of(data, 2, 1), 0, data.n);
  StateVectors v = state.to_vectors();
  expect_states_near(EstimatorState::from_vectors(v), state, 0.0);
  v.views[0].tables[1].sums.pop_back();
  try {
    EstimatorState::from_vectors(v);
    FAIL();
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("'set1'"), std::string::npos) << e.what();
  }
  StateLayout other = layout_of(data);
  EXPECT_THROW(merge(state, EstimatorState(other)), UsageError);
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

TEST(EstimatorStateTest, PartitionedRowSharesGiveExactlyTheUnpartitionedEstimate) {
  const Data data = make_data(600, 12, 10);
  const EstimatorState whole = run(data, layout_of(data, 3, 2), 0, data.n);
  const StateVectors vectors = whole.to_vectors();
  for (const auto weighting : {Weighting::kFrequency, Weighting::kUniform}) {
    const auto want = whole.estimate(weighting);
    for (const std::int64_t n_parts : {1, 2, 3, 7}) {
      std::vector<EstimatorState> parts;
      std::int64_t rows_kept = 0;
      for (std::int64_t p = 0; p < n_parts; ++p) {
        parts.push_back(EstimatorState::from_vectors(vectors, RowShare{n_parts, p}));
        const StateVectors kept = parts.back().to_vectors();
        for (const auto& t : kept.views[0].tables) {
          for (auto id : t.ids) EXPECT_EQ(id % n_parts, p);
          rows_kept += static_cast<std::int64_t>(t.ids.size());
        }
      }
      std::int64_t rows_all = 0;
      for (const auto& t : vectors.views[0].tables) rows_all += static_cast<std::int64_t>(t.ids.size());
      EXPECT_EQ(rows_kept, rows_all);
      // Add the parts' sums in reverse order: the total must not care.
      ConditionalSums total = parts.back().conditional_sums(weighting);
      for (std::int64_t p = n_parts - 2; p >= 0; --p) total = add_sums(total, parts[static_cast<std::size_t>(p)].conditional_sums(weighting));
      EXPECT_EQ(total, whole.conditional_sums(weighting));
      const auto got = parts.front().estimate(weighting, total);
      const auto tag = "P=" + std::to_string(n_parts);
      EXPECT_EQ(got.full.entropy, want.full.entropy) << tag;
      for (std::size_t s = 0; s < want.full.sets.size(); ++s) {
        EXPECT_EQ(got.full.sets[s].mutual_information, want.full.sets[s].mutual_information) << tag << " set " << s;
        EXPECT_EQ(got.full.sets[s].n_labels, want.full.sets[s].n_labels) << tag;
      }
      for (std::size_t b = 0; b < want.bootstrap.size(); ++b) {
        EXPECT_EQ(got.bootstrap[b].sets[1].mutual_information, want.bootstrap[b].sets[1].mutual_information) << tag;
      }
      for (std::size_t l = 0; l < want.subsets.size(); ++l) {
        EXPECT_EQ(got.subsets[l].sets[0].mutual_information, want.subsets[l].sets[0].mutual_information) << tag;
      }
    }
  }
}

TEST(EstimatorStateTest, ConditionalSumsRoundTripAndRejectWrongShapes) {
  const Data data = make_data(200, 8, 10);
  const EstimatorState state = run(data, layout_of(data, 2, 0), 0, data.n);
  const ConditionalSums sums = state.conditional_sums(Weighting::kFrequency);
  const auto flat = sums.to_flat();
  EXPECT_EQ(flat.size(), 3U * 3U * 4U);
  EXPECT_EQ(ConditionalSums::from_flat(flat, 3, 3), sums);
  try {
    ConditionalSums::from_flat(flat, 3, 2);
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("expected 24 integers"), std::string::npos) << e.what();
  }
  const ConditionalSums fewer = ConditionalSums::from_flat(std::span(flat).subspan(0, 24), 2, 3);
  EXPECT_THROW(add_sums(sums, fewer), UsageError);
  EXPECT_THROW(state.estimate(Weighting::kFrequency, fewer), UsageError);
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
  EstimatorState state(layout);
  const std::vector<std::span<const std::int32_t>> ids = {data.sets[0].ids, null.ids};
  state.add_batch(assigner, data.z.data(), data.n, ids, data.docs);
  const auto est = state.estimate(Weighting::kFrequency);
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
