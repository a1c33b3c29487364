// The reduce with the label space partitioned across ranks (row id % P == rank)
// against the unpartitioned EstimatorState::estimate on the same data: equal within
// 1e-12 relative (and in fact bitwise, since the row sums are exact), for every P
// this executable runs with (1, 2, 4), both weightings, bootstrap and subset views,
// and through the reduce stage with item state files on disk.
#include "analysis/error.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"
#include "io/fs.h"
#include "io/h5.h"
#include "io/mpi.h"
#include "io/run_dir.h"
#include "io/state_h5.h"
#include "stages/prepare.h"
#include "stages/reduce.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace ibzoo {
namespace {

constexpr double kRelTol = 1e-12;
constexpr std::int64_t kBins = 16;

io::Communicator& world() {
  static io::Communicator comm = io::Communicator::world();
  return comm;
}

// A fresh directory made by rank 0, its name given to every rank.
std::string shared_temp_dir(io::Communicator& comm, const char* pattern) {
  std::string dir;
  if (comm.rank() == 0) {
    dir = (std::filesystem::temp_directory_path() / pattern).string();
    if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + dir);
  }
  comm.broadcast(dir);
  return dir;
}

// The reduce job of one (model, checkpoint) "m/c" over `ids`.
stages::ReduceJob reduce_job(const io::RunDir& run, std::vector<std::string> ids) {
  stages::ReduceJob job;
  job.run = run;
  job.model = "m";
  job.family = "f";
  job.checkpoint = "c";
  job.item_ids = std::move(ids);
  return job;
}

// Same rows, same order, bitwise equal values (NaN where the other is NaN).
void expect_rows_equal(const stages::ReduceResult& a, const stages::ReduceResult& b) {
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    const auto& x = a.rows[i];
    const auto& y = b.rows[i];
    EXPECT_EQ(x.layer + x.label_set + x.metric, y.layer + y.label_set + y.metric) << i;
    if (std::isnan(x.value)) {
      EXPECT_TRUE(std::isnan(y.value)) << x.metric;
    } else {
      EXPECT_EQ(x.value, y.value) << x.layer << " " << x.label_set << " " << x.metric;
    }
  }
}

analysis::StateLayout layout(std::vector<std::string> sets) {
  analysis::StateLayout l;
  l.n_bins = kBins;
  l.label_sets = std::move(sets);
  l.n_bootstrap = 3;
  l.bootstrap_seed = 5;
  l.n_subset_levels = 2;
  l.subset_seed = 6;
  return l;
}

// One item's positions from random assignments (the same on every rank: fixed seed).
// Labels: many rows (ids up to n_labels) with a global singleton and a dropped id mixed in.
struct ItemData {
  std::vector<float> p;                         // [n, kBins]
  std::vector<std::vector<std::int32_t>> ids;   // [set][n]
  std::vector<std::int64_t> docs;               // [n]
  std::int64_t n = 0;
  std::vector<std::span<const std::int32_t>> spans() const { return {ids.begin(), ids.end()}; }
};

ItemData item_data(std::size_t n_sets, std::uint32_t seed, std::int64_t n_rows, std::int32_t n_labels) {
  std::mt19937 rng(seed);  // test data only
  std::uniform_real_distribution<float> u(0.01F, 1.0F);
  ItemData d;
  d.n = n_rows;
  d.p.resize(static_cast<std::size_t>(n_rows * kBins));
  for (std::int64_t i = 0; i < n_rows; ++i) {
    float total = 0;
    for (std::int64_t j = 0; j < kBins; ++j) total += (d.p[static_cast<std::size_t>(i * kBins + j)] = u(rng) * u(rng));
    for (std::int64_t j = 0; j < kBins; ++j) d.p[static_cast<std::size_t>(i * kBins + j)] /= total;
  }
  d.ids.resize(n_sets);
  for (std::int64_t i = 0; i < n_rows; ++i) {
    d.docs.push_back(static_cast<std::int64_t>(seed) * 1000 + i / 9);
    for (std::size_t s = 0; s < n_sets; ++s) {
      const auto r = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(n_labels + 2));
      d.ids[s].push_back(r == n_labels ? analysis::kSingleton : r == n_labels + 1 ? analysis::kDropped : r);
    }
  }
  return d;
}

analysis::EstimatorState item_state(const analysis::StateLayout& l, std::uint32_t seed, std::int64_t n_rows,
                                    std::int32_t n_labels) {
  const auto d = item_data(l.label_sets.size(), seed, n_rows, n_labels);
  analysis::EstimatorState state(l);
  state.add_assignments(d.p.data(), d.n, d.spans(), d.docs);
  return state;
}

// A format-2 state.h5 (what extract writes): the positions appended in two batches.
void write_assignments_item(const std::filesystem::path& path, const analysis::StateLayout& l,
                            const std::vector<ItemData>& layers, std::int32_t n_labels) {
  auto file = io::H5File::create(path);
  io::write_assignments_header(file, l, std::vector<std::int64_t>(l.label_sets.size(), n_labels));
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    const auto& d = layers[layer];
    io::create_assignments(file, static_cast<int>(layer), kBins, false);
    const auto half = d.n / 2;
    io::append_assignments(file, static_cast<int>(layer), std::span<const float>(d.p).first(static_cast<std::size_t>(half * kBins)), half);
    io::append_assignments(file, static_cast<int>(layer), std::span<const float>(d.p).subspan(static_cast<std::size_t>(half * kBins)),
                           d.n - half);
  }
  io::write_positions(file, layers.front().ids, layers.front().docs);
  file.close();
}

void expect_rel_near(const std::optional<double>& got, const std::optional<double>& want, const std::string& what) {
  ASSERT_EQ(got.has_value(), want.has_value()) << what;
  if (!want) return;
  EXPECT_LE(std::abs(*got - *want), kRelTol * std::max(1e-300, std::abs(*want))) << what << ": " << *got << " vs " << *want;
  EXPECT_EQ(*got, *want) << what << " (the row sums are exact, so the result should be bitwise equal)";
}

void expect_estimates_equal(const analysis::LayerEstimate& got, const analysis::LayerEstimate& want) {
  const auto views = [](const analysis::LayerEstimate& e) {
    std::vector<const analysis::ViewEstimate*> v{&e.full};
    for (const auto& b : e.bootstrap) v.push_back(&b);
    for (const auto& s : e.subsets) v.push_back(&s);
    return v;
  };
  const auto g = views(got);
  const auto w = views(want);
  ASSERT_EQ(g.size(), w.size());
  for (std::size_t v = 0; v < w.size(); ++v) {
    EXPECT_EQ(g[v]->n_samples, w[v]->n_samples);
    expect_rel_near(g[v]->entropy, w[v]->entropy, "entropy of view " + std::to_string(v));
    for (std::size_t s = 0; s < w[v]->sets.size(); ++s) {
      expect_rel_near(g[v]->sets[s].mutual_information, w[v]->sets[s].mutual_information,
                      "MI of view " + std::to_string(v) + " set " + std::to_string(s));
      EXPECT_EQ(g[v]->sets[s].n_labels, w[v]->sets[s].n_labels);
    }
  }
}

TEST(ReducePartitionMpiTest, PartitionedEstimateEqualsUnpartitionedForEveryRankCount) {
  auto& comm = world();
  const auto l = layout({"a", "b", "c"});
  std::vector<analysis::EstimatorState> items;
  for (std::uint32_t k = 0; k < 5; ++k) items.push_back(item_state(l, 100 + k, 400 + 37 * k, 150));
  analysis::EstimatorState whole = items.front();
  for (std::size_t k = 1; k < items.size(); ++k) whole.add(items[k]);

  const analysis::RowShare share{comm.size(), comm.rank()};
  for (const auto weighting : {analysis::Weighting::kFrequency, analysis::Weighting::kUniform}) {
    std::optional<analysis::EstimatorState> mine;
    for (const auto& item : items) {
      auto part = analysis::EstimatorState::from_vectors(item.to_vectors(), share);
      if (mine) {
        mine->add(part);
      } else {
        mine = std::move(part);
      }
    }
    if (comm.size() > 1) {
      EXPECT_LT(mine->memory_bytes(), whole.memory_bytes());
    }
    const auto total = stages::allreduce_sums(comm, mine->conditional_sums(weighting));
    expect_estimates_equal(mine->estimate(weighting, total, 0.9), whole.estimate(weighting, 0.9));
  }
}

TEST(ReducePartitionMpiTest, ReduceStageRowsAreIdenticalWithAndWithoutPartitioning) {
  auto& comm = world();
  const auto dir = shared_temp_dir(comm, "ibzoo_reduce_partition_XXXXXX");
  const io::RunDir run(dir);
  const auto text_layout = layout({"in1", "out1", "in1.null", "out1.null"});
  const auto pref_layout = layout({stages::kPreferenceSet});
  const std::vector<std::string> text_ids = {"t0", "t1", "t2"};
  const std::vector<std::string> pref_ids = {"p0", "p1"};
  if (comm.rank() == 0) {
    const auto write = [&](const std::string& id, const analysis::StateLayout& l, std::uint32_t seed, std::int32_t n_labels) {
      std::filesystem::create_directories(run.item_dir(id));
      auto file = io::H5File::create(run.item_state(id));
      for (int layer = 0; layer <= 2; ++layer) {
        io::write_state(file, io::layer_group(layer), item_state(l, seed + static_cast<std::uint32_t>(layer), 300, n_labels).to_vectors());
      }
      file.close();
    };
    for (std::size_t k = 0; k < text_ids.size(); ++k) write(text_ids[k], text_layout, 10 * static_cast<std::uint32_t>(k), 90);
    for (std::size_t k = 0; k < pref_ids.size(); ++k) write(pref_ids[k], pref_layout, 500 + 10 * static_cast<std::uint32_t>(k), 2);
    io::write_file_atomic(run.item_dir("t0") / "provenance.json", R"({"n_parameters": 1000})");
  }
  comm.barrier();
  auto job = reduce_job(run, text_ids);
  job.preference_item_ids = pref_ids;
  const auto serial = stages::reduce(job);
  const auto partitioned = stages::reduce(job, &comm);
  expect_rows_equal(serial, partitioned);
  EXPECT_TRUE(std::any_of(serial.rows.begin(), serial.rows.end(), [](const io::MetricRow& r) {
    return r.layer == "mean" && r.label_set == "pref" && r.metric == "mutual_information";
  }));
  EXPECT_EQ(serial.summary.preference, partitioned.summary.preference);
  EXPECT_FALSE(std::isnan(serial.summary.preference));
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove_all(dir);
}

// Format-2 items (soft assignments per position, as extract writes them): the reduce
// equals a state built directly from the same positions in plan order (bitwise: the
// same additions in the same order), with and without partitioning.
TEST(ReducePartitionMpiTest, ReduceOfAssignmentItemsEqualsTheDirectStateForEveryRankCount) {
  auto& comm = world();
  const auto dir = shared_temp_dir(comm, "ibzoo_reduce_assign_XXXXXX");
  const io::RunDir run(dir);
  const auto l = layout({"in1", "out1", "in1.null", "out1.null"});
  constexpr std::int32_t kLabels = 60;
  constexpr int kLayers = 2;
  // items[k][layer]: every layer of an item shares its labels and doc ids (seed per item).
  std::vector<std::vector<ItemData>> items;
  for (std::uint32_t k = 0; k < 3; ++k) {
    std::vector<ItemData> layers;
    const auto base = item_data(l.label_sets.size(), 40 + k, 250 + 31 * k, kLabels);
    for (int layer = 0; layer < kLayers; ++layer) {
      auto d = item_data(l.label_sets.size(), 900 + 10 * k + static_cast<std::uint32_t>(layer), base.n, kLabels);
      d.ids = base.ids;
      d.docs = base.docs;
      layers.push_back(std::move(d));
    }
    items.push_back(std::move(layers));
  }
  const std::vector<std::string> ids = {"a0", "a1", "a2"};
  if (comm.rank() == 0) {
    for (std::size_t k = 0; k < ids.size(); ++k) {
      std::filesystem::create_directories(run.item_dir(ids[k]));
      write_assignments_item(run.item_state(ids[k]), l, items[k], kLabels);
    }
    io::write_file_atomic(run.item_dir("a0") / "provenance.json", R"({"n_parameters": 1000})");
  }
  comm.barrier();
  auto job = reduce_job(run, ids);
  job.threads = 2;
  const auto serial = stages::reduce(job);
  const auto partitioned = stages::reduce(job, &comm);
  // The direct state per layer: every item's positions in plan order, one thread.
  for (int layer = 0; layer < kLayers; ++layer) {
    analysis::EstimatorState direct(l);
    for (const auto& item : items) {
      const auto& d = item[static_cast<std::size_t>(layer)];
      direct.add_assignments(d.p.data(), d.n, d.spans(), d.docs);
    }
    const auto want = direct.estimate(analysis::Weighting::kFrequency);
    const auto find = [&](const stages::ReduceResult& r, const std::string& set, const std::string& metric) {
      for (const auto& row : r.rows) {
        if (row.layer == std::to_string(layer) && row.label_set == set && row.metric == metric) return row.value;
      }
      ADD_FAILURE() << "no row " << layer << " " << set << " " << metric;
      return 0.0;
    };
    for (const auto* r : {&serial, &partitioned}) {
      EXPECT_EQ(find(*r, "", "entropy"), *want.full.entropy) << layer;
      EXPECT_EQ(find(*r, "in1", "mutual_information"), *want.full.sets[0].mutual_information) << layer;
      EXPECT_EQ(find(*r, "out1", "mutual_information"), *want.full.sets[1].mutual_information) << layer;
      EXPECT_EQ(find(*r, "in1", "null_mutual_information"), *want.full.sets[2].mutual_information) << layer;
      EXPECT_EQ(find(*r, "in1", "mi_ci_low"), want.mi_intervals[0]->low) << layer;
      EXPECT_EQ(find(*r, "", "n_samples"), static_cast<double>(want.full.n_samples)) << layer;
    }
  }
  expect_rows_equal(serial, partitioned);
  // A label id outside the header's row count is caught, naming the file and the dataset.
  comm.barrier();
  if (comm.rank() == 0) {
    auto bad = items[0];
    bad[0].ids[1][7] = kLabels + 5;
    bad[1].ids = bad[0].ids;
    write_assignments_item(run.item_state("a1"), l, bad, kLabels);
    try {
      (void)stages::reduce(job);
      ADD_FAILURE() << "no error for a label id out of range";
    } catch (const CorruptDataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("a1/state.h5"), std::string::npos) << what;
      EXPECT_NE(what.find("/labels[1, 7] = 65"), std::string::npos) << what;
    }
    // An item whose sample had other label row counts does not belong to this checkpoint.
    write_assignments_item(run.item_state("a1"), l, items[1], kLabels + 10);
    try {
      (void)stages::reduce(job);
      ADD_FAILURE() << "no error for an item with other label row counts";
    } catch (const CorruptDataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("a1/state.h5: its estimator layout (bins, label sets, bootstrap, subsets, label rows) differs"),
                std::string::npos) << what;
    }
    std::filesystem::remove_all(dir);
  }
  comm.barrier();
}

}  // namespace
}  // namespace ibzoo
