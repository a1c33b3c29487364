// The estimator's files in HDF5. state.h5 (format 3): every layer's exact sums round-
// trip bitwise per part, and an earlier format or a missing part is named.
// assignments.h5 (format 2, the opt-in per-position output): batches appended in order
// read back bitwise with their labels and doc ids, and an incomplete layer is named.
#include "errors/error.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"
#include "io/h5.h"
#include "hf/safetensors.h"
#include "io/state_h5.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

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

// 200 positions, two label sets: "many" (30 rows, the rest singletons), "few" (4
// rows); one bootstrap view and one subset level.
analysis::LayerSums sample_sums(int seed) {
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"many", "few"};
  layout.label_rows = {30, 4};
  layout.n_bootstrap = 1;
  layout.bootstrap_seed = 3;
  layout.n_subset_levels = 1;
  layout.subset_seed = 4;
  std::mt19937 rng(static_cast<std::uint32_t>(seed));  // test data only
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
    many.push_back(i < 60 ? static_cast<std::int32_t>(i % 30) : analysis::kSingleton);
    few.push_back(static_cast<std::int32_t>(i % 4));
    docs.push_back(i / 10);
  }
  const std::vector<std::span<const std::int32_t>> ids = {many, few};
  analysis::EstimatorState state(layout);
  state.add_assignments(p.data(), n, ids, docs);
  return state.sums();
}

TEST(StateH5Test, SumsRoundTripBitwisePerPart) {
  TempDir dir;
  PartSums text{{0, 2, 5}, {sample_sums(1), sample_sums(2), sample_sums(3)}};
  PartSums pref{{0, 2, 5}, {sample_sums(4), sample_sums(5), sample_sums(6)}};
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_sums(file, "text", text);
    write_sums(file, "preference", pref);
    file.close();
  }
  const auto file = H5File::open_read(dir.path / "state.h5");
  EXPECT_TRUE(has_sums(file, "text"));
  EXPECT_FALSE(has_sums(file, "other"));
  const auto back = read_sums(file, "text");
  EXPECT_EQ(back.layers, text.layers);
  ASSERT_EQ(back.per_layer.size(), 3U);
  for (std::size_t l = 0; l < 3; ++l) EXPECT_EQ(back.per_layer[l], text.per_layer[l]) << l;
  EXPECT_EQ(read_sums(file, "preference").per_layer[2], pref.per_layer[2]);
}

TEST(StateH5Test, AnEarlierFormatOrAMissingPartIsNamed) {
  TempDir dir;
  {
    auto file = H5File::create(dir.path / "old.h5");
    file.set_attr("/", "format", std::int64_t{2});
    file.close();
  }
  try {
    (void)read_sums(H5File::open_read(dir.path / "old.h5"), "text");
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("old.h5: format 2, expected 3"), std::string::npos) << what;
    EXPECT_NE(what.find("delete the item's directory to recompute it"), std::string::npos) << what;
  }
  {
    auto file = H5File::create(dir.path / "one.h5");
    write_sums(file, "text", PartSums{{1}, {sample_sums(1)}});
    file.close();
  }
  try {
    (void)read_sums(H5File::open_read(dir.path / "one.h5"), "preference");
    FAIL() << "no error";
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("/preference/sums is missing"), std::string::npos) << e.what();
  }
}

TEST(StateH5Test, AssignmentsRoundTripInAppendOrder) {
  TempDir dir;
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"in1", "out1"};
  layout.label_rows = {3, 40};
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
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_assignments_header(file, layout);
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
  const auto item = read_assignments(file, true);
  EXPECT_EQ(item.layout, layout);
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
  layout.label_rows = {7};
  {
    auto file = H5File::create(dir.path / "state.h5");
    write_assignments_header(file, layout);
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
  layout.label_rows = {4};
  auto file = H5File::create(path);
  write_assignments_header(file, layout);
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

// The label file's ids (stages/labels.cpp): an int32 [sets, positions] dataset, chunked and
// deflated, written and read one set (row) at a time; rows read back bitwise, a row past
// the end is named.
TEST(StateH5Test, ChunkedInt32RowsRoundTripOneRowAtATime) {
  TempDir dir;
  const auto path = dir.path / "labels.h5";
  const std::int64_t n = 70001;  // more than one chunk of 65536
  std::vector<std::vector<std::int32_t>> rows(3, std::vector<std::int32_t>(static_cast<std::size_t>(n)));
  std::mt19937 rng(5);
  for (auto& row : rows) {
    for (auto& v : row) v = static_cast<std::int32_t>(rng() % 5000) - 2;
  }
  {
    auto file = H5File::create(path);
    file.create_fixed_rows("/ids", 3, n, H5File::Type::kInt32, {{1, 65536}, 1});
    for (std::int64_t r = 2; r >= 0; --r) file.write_rows("/ids", std::span<const std::int32_t>(rows[static_cast<std::size_t>(r)]), r, 1);
    file.close();
  }
  const auto file = H5File::open_read(path);
  EXPECT_EQ(file.shape("/ids"), (std::vector<std::int64_t>{3, n}));
  for (std::int64_t r = 0; r < 3; ++r) {
    const auto got = file.read_rows_i32("/ids", r, 1);
    EXPECT_EQ(got.shape, (std::vector<std::int64_t>{1, n}));
    EXPECT_EQ(got.data, rows[static_cast<std::size_t>(r)]) << "row " << r;
  }
  EXPECT_THROW(file.read_rows_i32("/ids", 3, 1), CorruptDataError);
  EXPECT_LT(std::filesystem::file_size(path), static_cast<std::uintmax_t>(3 * n * 4));  // deflated
}

// HDF5 is built without thread safety here; io/h5 serialises its calls, so that two
// threads writing and reading files of their own at once (the label files beside the
// first items) get exactly what they wrote. Without the lock this crashes within a few
// rounds.
TEST(H5FileTest, ThreadsUseFilesOfTheirOwnAtOnce) {
  TempDir dir;
  const auto worker = [&](int t) {
    std::vector<std::int32_t> ids(50000);
    for (int round = 0; round < 20; ++round) {
      for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>(i * 7 + t * 1000 + round);
      const auto path = dir.path / ("t" + std::to_string(t) + "_" + std::to_string(round) + ".h5");
      {
        auto f = io::H5File::create(path);
        f.create_fixed_rows("/ids", 2, 25000, io::H5File::Type::kInt32, {{1, 4096}, 1});
        f.write_rows("/ids", std::span<const std::int32_t>(ids), 0, 2);
        f.set_attr("/", "round", static_cast<std::int64_t>(round));
        f.close();
      }
      const auto f = io::H5File::open_read(path);
      const auto back = f.read_rows_i32("/ids", 0, 2).data;
      ASSERT_EQ(back, ids) << "thread " << t << " round " << round;
      ASSERT_EQ(f.attr_int("/", "round"), round);
    }
  };
  std::thread other(worker, 1);
  worker(0);
  other.join();
}

}  // namespace
}  // namespace ibzoo::io
