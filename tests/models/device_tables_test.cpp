// The device tables (models::DeviceTables) against the host state
// (analysis::EstimatorState, itself checked against a naive reference in
// tests/analysis/estimator_state_test.cpp): the same assignments give the same
// integers (n, sum_p, counts) and entropies equal within rounding; the sums do not
// depend on batching or on how the rows are shared; the forward path agrees with the
// host kernel on a fixture model; a non-finite row is named with its layer. On the
// CPU device always (torch's CPU kernels), and on CUDA where a GPU is present.
#include "models/device_tables.h"

#include "errors/error.h"
#include "analysis/estimator_state.h"
#include "analysis/labels.h"
#include "analysis/reference_points.h"
#include "models/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace ibzoo::models {
namespace {

namespace fs = std::filesystem;
using analysis::Contribution;
using analysis::LayerSums;

const fs::path kFixtures(IBZOO_FIXTURES);
constexpr std::int64_t kBins = 16;

std::vector<Device> devices() {
  std::vector<Device> out = {Device::Cpu};
  if (cuda_available()) out.push_back(Device::Cuda);
  return out;
}

std::unique_ptr<Model> fixture(const std::string& family, Device device, DType dtype = DType::Float32,
                               std::int64_t fixed_rows = 0) {
  RunOptions o;
  o.device = device;
  o.dtype = dtype;
  o.fixed_rows = fixed_rows;
  return Model::load(kFixtures / "models" / family, o);
}

// Positions with three label sets (frequent rows, rows and singletons, some dropped)
// and soft assignments for two layers, [layers][n][m].
struct Sample {
  std::int64_t n = 0;
  std::vector<std::vector<std::int32_t>> labels;
  std::vector<std::int64_t> docs;
  std::vector<float> p;
  analysis::StateLayout layout;
  std::vector<std::int64_t> rows;  // batch rows (for the forward path)
};

Sample make_sample(std::int64_t n, std::int64_t n_boot, std::int64_t n_levels) {
  Sample s;
  s.n = n;
  std::mt19937 rng(3);  // test data only
  std::uniform_real_distribution<float> u(0.0F, 1.0F);
  std::vector<std::int64_t> a, b, c;
  for (std::int64_t i = 0; i < n; ++i) {
    a.push_back(i % 5);
    b.push_back(static_cast<std::int64_t>(rng() % 60));
    c.push_back(i < 12 ? 1000 + i : i % 3);
    s.docs.push_back(i / 9);
    s.rows.push_back(i);
  }
  for (const auto& [name, values, min_count] :
       {std::tuple{"a", a, 1}, std::tuple{"b", b, 1}, std::tuple{"c", c, 3}}) {
    const auto set = analysis::label_set_from_rows(name, values, n, 1, min_count);
    s.labels.push_back(set.ids);
    s.layout.label_sets.push_back(name);
    s.layout.label_rows.push_back(set.n_rows());
  }
  s.layout.n_bins = kBins;
  s.layout.n_bootstrap = n_boot;
  s.layout.bootstrap_seed = 5;
  s.layout.n_subset_levels = n_levels;
  s.layout.subset_seed = 6;
  s.p.resize(static_cast<std::size_t>(2 * n * kBins));
  for (std::int64_t r = 0; r < 2 * n; ++r) {
    double total = 0;
    for (std::int64_t j = 0; j < kBins; ++j) total += (s.p[static_cast<std::size_t>(r * kBins + j)] = std::pow(u(rng), 4.0F));
    for (std::int64_t j = 0; j < kBins; ++j) s.p[static_cast<std::size_t>(r * kBins + j)] /= static_cast<float>(total);
  }
  return s;
}

// Positions [begin, end) of the sample, and their assignments ([layers][n][m]).
struct Slice {
  std::vector<std::vector<std::int32_t>> labels;
  std::vector<std::span<const std::int32_t>> spans;
  std::vector<std::int64_t> docs, rows;
  std::vector<float> p;
  DeviceTables::Positions positions() const { return {rows, spans, docs}; }
};

Slice slice(const Sample& s, std::int64_t begin, std::int64_t end) {
  Slice out;
  for (const auto& ids : s.labels) out.labels.emplace_back(ids.begin() + begin, ids.begin() + end);
  for (const auto& ids : out.labels) out.spans.emplace_back(ids);
  out.docs.assign(s.docs.begin() + begin, s.docs.begin() + end);
  out.rows.assign(s.rows.begin(), s.rows.begin() + (end - begin));
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    const auto* src = s.p.data() + (layer * s.n + begin) * kBins;
    out.p.insert(out.p.end(), src, src + (end - begin) * kBins);
  }
  return out;
}

std::vector<LayerSums> host_sums(const Sample& s) {
  std::vector<LayerSums> out;
  std::vector<std::span<const std::int32_t>> spans;
  for (const auto& ids : s.labels) spans.emplace_back(ids);
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    analysis::EstimatorState state(s.layout);
    state.add_assignments(s.p.data() + layer * s.n * kBins, s.n, spans, s.docs);
    out.push_back(state.sums());
  }
  return out;
}

std::vector<LayerSums> device_sums(const Model& model, const DeviceAssigner& assigner, const Sample& s,
                                   std::int64_t batch, analysis::RowShare share = {}) {
  DeviceTables tables(model, assigner, s.layout, share, {0, 1});
  for (std::int64_t b = 0; b < s.n; b += batch) {
    const auto part = slice(s, b, std::min(s.n, b + batch));
    // In a team, the rows of this share see every position; the rest of a position
    // is added by the rank that runs it (here: position parity).
    const bool own = share.n_parts == 1 || (b / batch) % share.n_parts == share.part_idx;
    tables.add_assignments(part.p, part.positions(), own ? Contribution::kAll : Contribution::kRowsOnly);
  }
  return tables.sums();
}

void expect_near_host(const LayerSums& device, const LayerSums& host, const std::string& what) {
  ASSERT_EQ(device.views.size(), host.views.size());
  for (std::size_t v = 0; v < host.views.size(); ++v) {
    const auto& d = device.views[v];
    const auto& h = host.views[v];
    EXPECT_EQ(d.n, h.n) << what;
    EXPECT_EQ(d.sum_p, h.sum_p) << what;  // the same integers: p rounded to the same grid
    for (std::size_t s = 0; s < h.sets.size(); ++s) {
      const auto tag = what + " view " + std::to_string(v) + " set " + std::to_string(s);
      EXPECT_EQ(d.sets[s].n_rows, h.sets[s].n_rows) << tag;
      EXPECT_EQ(d.sets[s].n_weight, h.sets[s].n_weight) << tag;
      EXPECT_EQ(d.sets[s].singleton_weight, h.sets[s].singleton_weight) << tag;
      EXPECT_EQ(d.sets[s].singleton_labels, h.sets[s].singleton_labels) << tag;
      // Entropies: the same formula through other log and sum implementations.
      EXPECT_NEAR(d.sets[s].entropy_weighted.value(), h.sets[s].entropy_weighted.value(), 1e-9 * (1 + h.sets[s].entropy_weighted.value())) << tag;
      EXPECT_NEAR(d.sets[s].entropy_rows.value(), h.sets[s].entropy_rows.value(), 1e-9 * (1 + h.sets[s].entropy_rows.value())) << tag;
      EXPECT_NEAR(static_cast<double>(d.sets[s].singleton_entropy_weighted), static_cast<double>(h.sets[s].singleton_entropy_weighted),
                  1.0 + 1e-9 * std::abs(static_cast<double>(h.sets[s].singleton_entropy_weighted))) << tag;
    }
  }
}

TEST(DeviceTablesTest, AssignmentsGiveTheHostStatesSums) {
  const auto s = make_sample(700, 3, 2);
  const auto want = host_sums(s);
  for (const auto device : devices()) {
    const auto model = fixture("gpt2", device);
    const auto points = analysis::generate_reference_points(1, kBins, model->hidden_size());
    const DeviceAssigner assigner(*model, points.w, kBins, model->hidden_size(), 0.3);
    const auto got = device_sums(*model, assigner, s, 256);
    ASSERT_EQ(got.size(), 2U);
    for (std::size_t l = 0; l < 2; ++l) {
      expect_near_host(got[l], want[l], device_name(device) + " layer " + std::to_string(l));
      for (const auto weighting : {analysis::Weighting::kFrequency, analysis::Weighting::kUniform}) {
        const auto a = analysis::estimate(got[l], weighting);
        const auto b = analysis::estimate(want[l], weighting);
        EXPECT_NEAR(*a.full.sets[1].mutual_information, *b.full.sets[1].mutual_information, 1e-12);
        EXPECT_NEAR(*a.bootstrap[2].sets[0].mutual_information, *b.bootstrap[2].sets[0].mutual_information, 1e-12);
      }
    }
  }
}

TEST(DeviceTablesTest, SumsAreBitwiseIndependentOfBatchingAndRowShares) {
  const auto s = make_sample(500, 2, 1);
  for (const auto device : devices()) {
    const auto model = fixture("gpt2", device);
    const auto points = analysis::generate_reference_points(1, kBins, model->hidden_size());
    const DeviceAssigner assigner(*model, points.w, kBins, model->hidden_size(), 0.3);
    const auto one = device_sums(*model, assigner, s, 500);
    EXPECT_EQ(device_sums(*model, assigner, s, 37), one) << device_name(device) << ": batches of 37";
    // The row entropies of the finalise, 7 rows at a time instead of all at once.
    ::setenv("IBZOO_TEST_FINALISE_ROWS", "7", 1);
    const auto chunked = device_sums(*model, assigner, s, 500);
    ::unsetenv("IBZOO_TEST_FINALISE_ROWS");
    EXPECT_EQ(chunked, one) << device_name(device) << ": finalise by 7 rows";
    for (const std::int64_t parts : {2, 3}) {
      std::vector<LayerSums> total;
      for (std::int64_t part = 0; part < parts; ++part) {
        const auto mine = device_sums(*model, assigner, s, 50, analysis::RowShare{parts, part});
        if (total.empty()) {
          total = mine;
        } else {
          for (std::size_t l = 0; l < mine.size(); ++l) total[l].add(mine[l]);
        }
      }
      EXPECT_EQ(total, device_sums(*model, assigner, s, 50)) << device_name(device) << ": " << parts << " shares";
    }
  }
}

// The forward path (hidden states -> p on the device) against the host's kernel on
// the same rows of a padded batch: estimates within the float32 rounding of p. A
// float32 model's rows come from the CPU model; a bfloat16 model's (whose rows on CUDA
// multiply by W in bfloat16 parts, models/model_impl.h) from the same model.
TEST(DeviceTablesTest, ForwardPathMatchesTheHostKernel) {
  const std::vector<std::vector<std::int32_t>> seqs = {{5, 9, 2, 7, 1, 3, 8, 4, 4, 2}, {4, 6, 11, 5, 9}, {12, 2, 2, 9, 30, 7}};
  std::vector<std::int64_t> rows;
  for (std::int64_t r = 0; r < 21; ++r) rows.push_back(r);
  std::vector<std::int64_t> values, docs;
  for (std::int64_t r = 0; r < 21; ++r) {
    values.push_back(r % 4);
    docs.push_back(r < 10 ? 0 : r < 15 ? 1 : 2);
  }
  const auto set = analysis::label_set_from_rows("a", values, 21, 1);
  analysis::StateLayout layout;
  layout.n_bins = kBins;
  layout.label_sets = {"a"};
  layout.label_rows = {set.n_rows()};
  const std::vector<std::span<const std::int32_t>> spans = {set.ids};
  for (const auto device : devices()) {
    for (const auto& [family, dtype] : {std::pair<std::string, DType>{"gpt2", DType::Float32}, {"llama", DType::Float32},
                                       {"gpt2", DType::BFloat16}, {"llama", DType::BFloat16}}) {
      if (!dtype_supported(device, dtype)) continue;
      const auto model = fixture(family, device, dtype);
      const auto d = model->hidden_size();
      const auto points = analysis::generate_reference_points(7, kBins, d);
      const analysis::SoftAssigner host(points, 0.3);
      const DeviceAssigner assigner(*model, points.w, kBins, d, 0.3);
      const std::vector<int> layers = {0, model->n_layers()};
      DeviceTables tables(*model, assigner, layout, {}, layers);
      std::vector<float> p_device;
      tables.add_forward(seqs, {rows, spans, docs}, &p_device);
      const auto got = tables.sums();
      {  // Fixed shapes (RunOptions::fixed_rows): the forward's projections and the norms
         // and scores by blocks of 8 rows, the last padded: the same p (bfloat16 hidden
         // states round differently in other GEMM shapes).
        const auto fixed = fixture(family, device, dtype, 8);
        const DeviceAssigner fixed_assigner(*fixed, points.w, kBins, d, 0.3);
        DeviceTables blocked(*fixed, fixed_assigner, layout, {}, layers);
        std::vector<float> p_blocked;
        blocked.add_forward(seqs, {rows, spans, docs}, &p_blocked);
        ASSERT_EQ(p_blocked.size(), p_device.size());
        const double tol = dtype == DType::Float32 ? 1e-6 : 2e-3;
        for (std::size_t i = 0; i < p_device.size(); ++i) {
          ASSERT_NEAR(p_blocked[i], p_device[i], tol) << family << " " << dtype_name(dtype) << " " << device_name(device);
        }
      }
      std::vector<analysis::EstimatorState> states(layers.size(), analysis::EstimatorState(layout));
      const auto cpu = dtype == DType::Float32 ? fixture(family, Device::Cpu) : nullptr;
      (cpu ? *cpu : *model).forward_layers(seqs, [&](int layer, const float* z, std::int64_t n, std::int64_t dim) {
        const auto slot = layer == 0 ? 0U : 1U;
        std::vector<float> p(static_cast<std::size_t>(n * kBins));
        host.assign(z, n, p.data());
        for (std::int64_t i = 0; i < n * kBins; ++i) {
          ASSERT_NEAR(p[static_cast<std::size_t>(i)], p_device[slot * static_cast<std::size_t>(n * kBins) + static_cast<std::size_t>(i)], 2e-5)
              << family << " " << dtype_name(dtype) << " " << device_name(device) << " layer " << layer;
        }
        states[slot].add_assignments(p.data(), n, spans, docs);
        (void)dim;
      }, layers);
      for (std::size_t l = 0; l < layers.size(); ++l) {
        const auto a = analysis::estimate(got[l], analysis::Weighting::kFrequency);
        const auto b = analysis::estimate(states[l].sums(), analysis::Weighting::kFrequency);
        EXPECT_NEAR(*a.full.entropy, *b.full.entropy, 1e-5) << family << " " << device_name(device);
        EXPECT_NEAR(*a.full.sets[0].mutual_information, *b.full.sets[0].mutual_information, 1e-5) << family;
      }
    }
  }
}

TEST(DeviceTablesTest, ANonFiniteAssignmentIsNamedWithItsLayer) {
  auto s = make_sample(40, 0, 0);
  s.p[static_cast<std::size_t>((s.n + 7) * kBins + 3)] = std::numeric_limits<float>::quiet_NaN();  // layer slot 1
  const auto model = fixture("gpt2", Device::Cpu);
  const auto points = analysis::generate_reference_points(1, kBins, model->hidden_size());
  const DeviceAssigner assigner(*model, points.w, kBins, model->hidden_size(), 0.3);
  DeviceTables tables(*model, assigner, s.layout, {}, {0, 4});
  const auto all = slice(s, 0, s.n);
  tables.add_assignments(all.p, all.positions(), Contribution::kAll);
  try {
    (void)tables.sums();
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 4 has 1 estimator position(s) with a zero or non-finite"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ibzoo::models
