// Estimator state in HDF5. Format 1 (tables): the pooled count-1 rows round-trip
// bitwise, a row share reads only its rows, rows that are not float32-exact stay
// dense, and a damaged pool index is named. Format 2 (assignments per position):
// batches appended in order read back bitwise with their labels and doc ids, and
// an incomplete layer is named.
#include "analysis/error.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"
#include "io/h5.h"
#include "io/safetensors.h"
#include "io/state_h5.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace ibzoo::io {
namespace {

constexpr std::int64_t kBins = 8;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ibzoo_state_h5_XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// 200 positions, two label sets: "many" (mostly count-1 rows), "few" (4 labels); one bootstrap view.
analysis::StateVectors sample_state() {
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"many", "few"};
  layout.n_bootstrap = 1;
  layout.bootstrap_seed = 3;
  std::mt19937 rng(7);  // test data only
  std::uniform_real_distribution<float> u(0.05F, 1.0F);
  const std::int64_t n = 200;
  std::vector<float> p(static_cast<std::size_t>(n * kBins));
  for (std::int64_t i = 0; i < n; ++i) {
    float total = 0;
    for (std::int64_t j = 0; j < kBins; ++j) total += (p[static_cast<std::size_t>(i * kBins + j)] = u(rng));
    for (std::int64_t j = 0; j < kBins; ++j) p[static_cast<std::size_t>(i * kBins + j)] /= total;
  }
  std::vector<std::int32_t> many, few;
  std::vector<std::int64_t> docs;
  for (std::int64_t i = 0; i < n; ++i) {
    many.push_back(static_cast<std::int32_t>(i % 170));  // rows 0..29 twice, the rest once
    few.push_back(static_cast<std::int32_t>(i % 4));
    docs.push_back(i / 10);
  }
  const std::vector<std::span<const std::int32_t>> ids = {many, few};
  analysis::EstimatorState state(layout);
  state.add_assignments(p.data(), n, ids, docs);
  return state.to_vectors();
}

void expect_tables_equal(const analysis::StateVectors& got, const analysis::StateVectors& want,
                         const analysis::RowShare& share) {
  ASSERT_EQ(got.views.size(), want.views.size());
  for (std::size_t v = 0; v < want.views.size(); ++v) {
    EXPECT_EQ(got.views[v].n, want.views[v].n);
    EXPECT_EQ(got.views[v].sum_p, want.views[v].sum_p);
    for (std::size_t s = 0; s < want.views[v].tables.size(); ++s) {
      const auto& w = want.views[v].tables[s];
      analysis::TableVectors expected;
      for (std::size_t r = 0; r < w.ids.size(); ++r) {
        if (!share.contains(w.ids[r])) continue;
        expected.ids.push_back(w.ids[r]);
        expected.counts.push_back(w.counts[r]);
        expected.sums.insert(expected.sums.end(), w.sums.begin() + static_cast<std::ptrdiff_t>(r * kBins),
                             w.sums.begin() + static_cast<std::ptrdiff_t>((r + 1) * kBins));
      }
      const auto& g = got.views[v].tables[s];
      EXPECT_EQ(g.ids, expected.ids);
      EXPECT_EQ(g.counts, expected.counts);
      EXPECT_EQ(g.sums, expected.sums);  // bitwise: the pool is lossless
      EXPECT_EQ(g.singleton_entropy_weighted, w.singleton_entropy_weighted);
    }
  }
}

TEST(StateH5Test, PooledRowsRoundTripBitwiseAndSharesReadOnlyTheirRows) {
  TempDir dir;
  const auto state = sample_state();
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_state(file, layer_group(0), state);
    file.close();
  }
  const auto file = H5File::open_read(dir.path / "state.h5");
  expect_tables_equal(read_state(file, layer_group(0)), state, {});
  for (std::int64_t part = 0; part < 3; ++part) {
    expect_tables_equal(read_state(file, layer_group(0), {3, part}), state, {3, part});
  }
  // Set "many" of view 0 has 140 count-1 rows: pooled, so only 30 dense rows remain;
  // the pool holds each position's vector once although two views reference it.
  EXPECT_EQ(file.shape("/layer_000/view_000/set_00/sums"), (std::vector<std::int64_t>{30, kBins}));
  const auto pool_rows = file.shape("/layer_000/pool")[0];
  EXPECT_GE(pool_rows, 140);
  EXPECT_LE(pool_rows, 200);
}

TEST(StateH5Test, RowsThatAreNotFloatExactStayDense) {
  TempDir dir;
  auto state = sample_state();
  auto& t = state.views[0].tables[0];
  ASSERT_EQ(t.counts[100], 1);
  t.sums[100 * kBins] += 1e-12;  // no longer a float32 value
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_state(file, layer_group(0), state);
    file.close();
  }
  const auto file = H5File::open_read(dir.path / "state.h5");
  EXPECT_EQ(file.shape("/layer_000/view_000/set_00/sums"), (std::vector<std::int64_t>{31, kBins}));
  expect_tables_equal(read_state(file, layer_group(0)), state, {});
}

TEST(StateH5Test, PoolIndexOutsideThePoolIsNamed) {
  TempDir dir;
  {
    auto file = H5File::create(dir.path / "bad.h5");
    const std::string g = "/layer_000";
    file.write_strings(g + "/label_sets", {"a"});
    for (const char* key : {"n_bins", "n_bootstrap", "bootstrap_seed", "n_subset_levels", "subset_seed"}) {
      file.set_attr(g, key, key == std::string("n_bins") ? std::int64_t{2} : std::int64_t{0});
    }
    const std::vector<std::int64_t> one = {1};
    const std::vector<double> sum_p = {0.5, 0.5};
    file.write(g + "/view_000/n", std::span<const std::int64_t>(one), {1});
    file.write(g + "/view_000/sum_p", std::span<const double>(sum_p), {2});
    const std::vector<std::int64_t> ids = {0}, counts = {1}, pool_idx = {5};
    file.write(g + "/view_000/set_00/ids", std::span<const std::int64_t>(ids), {1});
    file.write(g + "/view_000/set_00/counts", std::span<const std::int64_t>(counts), {1});
    file.write(g + "/view_000/set_00/pool_idx", std::span<const std::int64_t>(pool_idx), {1});
    file.write(g + "/view_000/set_00/sums", std::span<const double>(), {0, 2});
    const std::vector<double> singletons(4, 0.0);
    file.write(g + "/view_000/set_00/singletons", std::span<const double>(singletons), {4});
    const std::vector<float> pool = {0.5F, 0.5F};
    file.write(g + "/pool", std::span<const float>(pool), {1, 2});
    file.close();
  }
  const auto file = H5File::open_read(dir.path / "bad.h5");
  try {
    read_state(file, layer_group(0));
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.h5"), std::string::npos) << what;
    EXPECT_NE(what.find("pool_idx[0] = 5 is outside the pool of 1 rows"), std::string::npos) << what;
  }
}

TEST(StateH5Test, AssignmentsRoundTripInAppendOrder) {
  TempDir dir;
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"in1", "out1"};
  layout.n_bootstrap = 2;
  layout.bootstrap_seed = 11;
  layout.n_subset_levels = 1;
  layout.subset_seed = 12;
  const std::int64_t n = 2500;  // three appends, the last one partial
  std::vector<float> p(static_cast<std::size_t>(n * kBins));
  for (std::int64_t i = 0; i < n; ++i) {
    float total = 0;
    for (std::int64_t j = 0; j < kBins; ++j) total += (p[static_cast<std::size_t>(i * kBins + j)] = static_cast<float>((i * 7 + j * 13) % 97 + 1));
    for (std::int64_t j = 0; j < kBins; ++j) p[static_cast<std::size_t>(i * kBins + j)] /= total;
  }
  // Layer 3 holds each row reversed (another probability vector).
  const auto reversed = [&](std::int64_t i, std::int64_t j) { return p[static_cast<std::size_t>(i * kBins + kBins - 1 - j)]; };
  std::vector<std::vector<std::int32_t>> labels(2);
  std::vector<std::int64_t> docs;
  for (std::int64_t i = 0; i < n; ++i) {
    labels[0].push_back(static_cast<std::int32_t>(i % 5) - 2);  // -2 .. 2
    labels[1].push_back(static_cast<std::int32_t>(i % 40));
    docs.push_back(1000 + i / 300);
  }
  const std::vector<std::int64_t> rows = {3, 40};
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_assignments_header(file, layout, rows);
    for (int layer : {0, 3}) create_assignments(file, layer, kBins, false);
    for (std::int64_t begin = 0; begin < n; begin += 1000) {
      const auto count = std::min<std::int64_t>(1000, n - begin);
      for (int layer : {0, 3}) {
        std::vector<float> batch(p.begin() + begin * kBins, p.begin() + (begin + count) * kBins);
        if (layer == 3) {
          for (std::int64_t i = 0; i < count; ++i) {
            for (std::int64_t j = 0; j < kBins; ++j) batch[static_cast<std::size_t>(i * kBins + j)] = reversed(begin + i, j);
          }
        }
        append_assignments(file, layer, batch, count);
      }
    }
    write_positions(file, labels, docs);
    file.close();
  }
  const auto file = H5File::open_read(dir.path / "state.h5");
  ASSERT_TRUE(is_assignments_file(file));
  const auto item = read_assignments(file, true);
  EXPECT_EQ(item.layout, layout);
  EXPECT_EQ(item.label_rows, rows);
  EXPECT_EQ(item.layers, (std::vector<int>{0, 3}));
  EXPECT_EQ(item.n_positions, n);
  EXPECT_EQ(item.labels, labels);
  EXPECT_EQ(item.doc_ids, docs);
  const auto back = read_assignment_rows(file, 0, kBins, 0, n);
  EXPECT_EQ(back, p);
  const auto tail = read_assignment_rows(file, 3, kBins, 1999, 2);
  ASSERT_EQ(tail.size(), static_cast<std::size_t>(2 * kBins));
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < kBins; ++j) EXPECT_EQ(tail[static_cast<std::size_t>(i * kBins + j)], reversed(1999 + i, j));
  }
  // A format-1 file is not mistaken for format 2.
  {
    auto old = H5File::create(dir.path / "old.h5");
    write_state(old, layer_group(0), sample_state());
    old.close();
  }
  EXPECT_FALSE(is_assignments_file(H5File::open_read(dir.path / "old.h5")));
}

// float16 storage: half bit patterns go in unchanged, in batches, and read back widened
// exactly (each value as f16_to_float of its bits); rows stay probability vectors within
// the reader's tolerance. Half rows are not appended to a float32 dataset.
TEST(StateH5Test, Float16AssignmentsReadBackAsTheirHalfValues) {
  TempDir dir;
  constexpr std::int64_t n = 1500;
  std::vector<float> p(static_cast<std::size_t>(n * kBins));
  for (std::int64_t i = 0; i < n; ++i) {
    double total = 0;
    for (std::int64_t j = 0; j < kBins; ++j) total += std::exp(-0.37 * static_cast<double>((i * 31 + j * 17) % 53));
    for (std::int64_t j = 0; j < kBins; ++j) {
      p[static_cast<std::size_t>(i * kBins + j)] = static_cast<float>(std::exp(-0.37 * static_cast<double>((i * 31 + j * 17) % 53)) / total);
    }
  }
  std::vector<std::uint16_t> half(p.size());
  float_to_f16(p, half);
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"in1"};
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_assignments_header(file, layout, std::vector<std::int64_t>{7});
    create_assignments(file, 2, kBins, true);
    create_assignments(file, 5, kBins, false);
    for (std::int64_t begin = 0; begin < n; begin += 700) {
      const auto count = std::min<std::int64_t>(700, n - begin);
      append_assignments(file, 2, std::span(half).subspan(static_cast<std::size_t>(begin * kBins), static_cast<std::size_t>(count * kBins)), count);
    }
    EXPECT_THROW(append_assignments(file, 5, std::span<const std::uint16_t>(half).first(kBins), 1), WriteError);
    append_assignments(file, 5, p, n);
    std::vector<std::vector<std::int32_t>> labels(1);
    for (std::int64_t i = 0; i < n; ++i) labels[0].push_back(static_cast<std::int32_t>(i % 7));
    write_positions(file, labels, std::vector<std::int64_t>(static_cast<std::size_t>(n), 0));
    file.close();
  }
  const auto file = H5File::open_read(dir.path / "state.h5");
  const auto back = read_assignment_rows(file, 2, kBins, 0, n);
  ASSERT_EQ(back.size(), p.size());
  double max_rel = 0;
  for (std::size_t k = 0; k < p.size(); ++k) {
    ASSERT_EQ(back[k], f16_to_float(half[k])) << k;
    if (p[k] > 1e-4F) max_rel = std::max(max_rel, std::abs(static_cast<double>(back[k]) - p[k]) / p[k]);
  }
  EXPECT_LE(max_rel, 0x1.0p-11);  // round to nearest: at most half an ulp
  EXPECT_GT(max_rel, 0.0);        // and the values did go through half precision
  EXPECT_EQ(read_assignment_rows(file, 5, kBins, 0, n), p);
  EXPECT_EQ(read_assignment_rows(file, 2, kBins, 1400, 3).size(), static_cast<std::size_t>(3 * kBins));
}

// A format-2 file of 4 positions (one label set) whose only layer holds the rows p.
void write_four_position_item(const std::filesystem::path& path, int layer, const std::vector<float>& p) {
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"in1"};
  auto file = H5File::create(path);
  write_assignments_header(file, layout, std::vector<std::int64_t>{4});
  create_assignments(file, layer, kBins, false);
  append_assignments(file, layer, p, static_cast<std::int64_t>(p.size()) / kBins);
  write_positions(file, {{0, 1, 2, 3}}, std::vector<std::int64_t>{0, 0, 1, 1});
  file.close();
}

// Rows HDF5 never wrote read back as zeros: the reader refuses them.
TEST(StateH5Test, AnAssignmentRowThatIsNotAProbabilityVectorIsNamed) {
  TempDir dir;
  std::vector<float> p(static_cast<std::size_t>(4 * kBins), 1.0F / kBins);
  for (std::int64_t j = 0; j < kBins; ++j) p[static_cast<std::size_t>(2 * kBins + j)] = 0.0F;
  write_four_position_item(dir.path / "state.h5", 0, p);
  const auto file = H5File::open_read(dir.path / "state.h5");
  EXPECT_EQ(read_assignment_rows(file, 0, kBins, 0, 2).size(), static_cast<std::size_t>(2 * kBins));
  try {
    (void)read_assignment_rows(file, 0, kBins, 0, 4);
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("state.h5: /layer_000/p row 2 is not a probability vector (sum 0.000000)"), std::string::npos) << what;
  }
}

TEST(StateH5Test, AnIncompleteAssignmentLayerIsNamed) {
  TempDir dir;
  write_four_position_item(dir.path / "state.h5", 1, std::vector<float>(static_cast<std::size_t>(3 * kBins), 1.0F / kBins));  // 3 rows
  try {
    (void)read_assignments(H5File::open_read(dir.path / "state.h5"), false);
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("state.h5: /layer_001/p must be [4, 8]"), std::string::npos) << what;
    EXPECT_NE(what.find("delete its directory to recompute it"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ibzoo::io
