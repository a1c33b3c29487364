// `plan --estimate`: every figure of a small study checked against a hand computation
// (the arithmetic is written out beside each expectation).
#include "pipeline/plan.h"

#include <gtest/gtest.h>

namespace ibzoo::pipeline {
namespace {

// tiny-gpt2: d = 32, 2 blocks, 2 heads, vocab 257, float32 weights.
Manifest small_study() {
  Manifest m;
  ModelSpec model;
  model.id = "tiny";
  model.n_parameters = 2e6;
  const std::filesystem::path path = IBZOO_SOURCE_DIR "/manifests/test/models/tiny-gpt2";
  model.checkpoints = {{"a", 1, 0, path, "", ""}, {"b", 2, 0, path, "", ""}};
  m.models = {model};
  m.text.documents_per_shard = 4;
  m.preference = PreferenceData{};
  m.preference->n_pairs = 5;
  m.preference->max_tokens = 16;
  m.estimator.bins = 10;
  m.estimator.orders = {1, 2};
  m.estimator.null = true;
  m.estimator.bootstrap = 1;
  m.estimator.min_count = 3;
  m.storage.representations = true;
  m.storage.layers = {1};
  m.storage.dtype = "float16";
  m.compute.dtype = "float32";
  m.compute.tokens_per_batch = 64;
  m.compute.throughput_tokens_per_s = 1000;
  return m;
}

EstimateOptions small_options() {
  EstimateOptions o;
  o.n_documents = 10;
  o.tokens_per_document = 20;
  o.n_ranks = 2;
  o.memory_bytes = 100'000'000;
  return o;
}

// What a CPU rank holds beside the tables (pipeline/budget.cpp): the weights 2e6 x 4,
// the sample's labels 170 x (8 x 4 + 16) and tokens 10 x 20 x 8; one sequence's
// activations 20 x 4 x (12 x 32 + 3 x 128) and attention scores 20 x 20 x 2 heads x 4 x 2
// (the host runs a sequence at a time); the estimator's layer-free buffers for a batch of
// 64 tokens: 64 x 10 x 12; 64 MiB of slack.
constexpr double kReserved = 8e6 + 8160 + 1600 + 61440 + 6400 + 7680 + 67108864;
// What a pass holds per layer: its tables (2 views x 448 rows x (8 x 10 + 8) bytes) and a
// batch's p of the layer, 64 x 10 x 4 (one rank per checkpoint: 2 checkpoints, 2 ranks).
constexpr double kTables = 78848, kPassBuffers = 2560, kLayer = kTables + kPassBuffers;

TEST(PlanEstimateTest, EveryFigureMatchesTheHandComputation) {
  const auto e = estimate_plan(small_study(), small_options());
  ASSERT_TRUE(e.from_configs);
  ASSERT_EQ(e.rows.size(), 1u);
  const auto& r = e.rows[0];
  EXPECT_EQ(e.n_pairs, 5);
  EXPECT_EQ(e.tokens_per_pair_document, 16);     // min(20, preference.max_tokens 16)
  EXPECT_EQ(e.text_positions_per_document, 17);  // 20 - 2 x 2 + 1
  EXPECT_EQ(e.n_label_sets, 8);                  // in1 in2 out1 out2, and their nulls
  EXPECT_EQ(e.n_views, 2);                       // full sample + 1 bootstrap replicate
  EXPECT_EQ(e.min_count_kept, 3);
  EXPECT_FALSE(e.teams);                         // 2 checkpoints for 2 ranks: one each
  EXPECT_EQ(r.n_checkpoints, 2);
  EXPECT_EQ(r.n_layers, 2);
  EXPECT_EQ(r.n_layers_estimated, 3);  // 0..L
  EXPECT_EQ(r.hidden, 32);
  EXPECT_EQ(r.vocab, 257);
  // Per checkpoint: 10 x 20 text tokens + 5 pairs x 2 x 16 = 360; x 2 checkpoints.
  EXPECT_DOUBLE_EQ(r.tokens, 720);
  // Positions: 10 x 17 + 5 x 2 x 16 = 330 per checkpoint.
  EXPECT_DOUBLE_EQ(r.positions, 660);
  // One pass: 720 x (2 x 2e6 + 2 x 2 blocks x 20 x 32).
  EXPECT_EQ(r.n_passes, 1);
  EXPECT_DOUBLE_EQ(r.forward_factor, 1.0);
  EXPECT_DOUBLE_EQ(r.flops, 720.0 * 4002560.0);
  EXPECT_DOUBLE_EQ(r.gpu_hours, 720.0 / 1000.0 / 3600.0);
  EXPECT_DOUBLE_EQ(r.weight_bytes, 2e6 * 4 * 2);  // float32 in config.json, 2 checkpoints
  // state.h5: 3 layers x 2 views x 8 x (1 + 10 + 10 x (8 + 1)) per checkpoint.
  EXPECT_DOUBLE_EQ(r.run_dir_bytes, 2 * 3 * 2 * 8.0 * 101);
  EXPECT_DOUBLE_EQ(r.representation_bytes, 720.0 * 32 * 1 * 2);  // one layer, float16
  EXPECT_DOUBLE_EQ(r.assignment_bytes, 0.0);
  // Rows: min(floor(170 / 3), 257^order) = 56 per set; 2 orders x 2 (in, out) x 2 (null).
  EXPECT_DOUBLE_EQ(r.table_rows, 448);
  EXPECT_FALSE(r.rows_counted);
  EXPECT_DOUBLE_EQ(r.table_bytes_per_layer, kTables);  // 2 x 448 x (8 x 10 + 8)
  EXPECT_DOUBLE_EQ(r.table_budget, 100e6 - kReserved);
  EXPECT_DOUBLE_EQ(r.peak_rank_bytes, kReserved + 3 * kLayer);
  EXPECT_DOUBLE_EQ(e.total.tokens, r.tokens);
  EXPECT_EQ(e.total.model, "total");
}

TEST(PlanEstimateTest, TablesOverTheBudgetNeedLayerGroupsAndRepeatTheForwardPass) {
  auto o = small_options();
  o.memory_bytes = static_cast<std::int64_t>(kReserved + 2 * kLayer) + 1000;  // two layers per pass
  const auto e = estimate_plan(small_study(), o);
  EXPECT_EQ(e.rows[0].n_passes, 2);
  // Passes end at layers 1 of 3 (half way) and 3: 1/2 + 2/2 of a forward pass each.
  EXPECT_DOUBLE_EQ(e.rows[0].forward_factor, 1.5);
  EXPECT_DOUBLE_EQ(e.rows[0].flops, 1.5 * 720.0 * 4002560.0);
  // Not one layer (2 views x 448 rows x 88 bytes, and its 2560 bytes of p): the rows go
  // in shares of at most 5 per view (2 x 5 x 88 = 880 <= 1000; 6 rows would take 1056),
  // 448 / 5 -> 90 shares, one layer per pass: 90 x 3 passes, each share a whole forward pass.
  o.memory_bytes = static_cast<std::int64_t>(kReserved + kPassBuffers) + 1000;
  const auto shared = estimate_plan(small_study(), o).rows[0];
  EXPECT_EQ(shared.row_shares, 90);
  EXPECT_EQ(shared.n_passes, 270);
  EXPECT_DOUBLE_EQ(shared.forward_factor, 90 * (1.0 / 3 + 2.0 / 3 + 1.0));
  EXPECT_DOUBLE_EQ(shared.peak_rank_bytes, kReserved + 880.0 + kPassBuffers);
  o.memory_bytes = static_cast<std::int64_t>(kReserved) - 1;  // nothing left for tables
  EXPECT_EQ(estimate_plan(small_study(), o).rows[0].n_passes, 0);
}

TEST(PlanEstimateTest, ARankWithTwoCheckpointsHoldsTheNextOnesWeightsWhenThePassesStayTheSame) {
  auto o = small_options();
  o.n_ranks = 1;
  // The second checkpoint loads during the first (pipeline/model_cache.h): 2e6 x 4 bytes more.
  EXPECT_DOUBLE_EQ(estimate_plan(small_study(), o).rows[0].peak_rank_bytes, kReserved + 3 * kLayer + 8e6);
  // When those weights would cost a pass, nothing loads ahead.
  o.memory_bytes = static_cast<std::int64_t>(kReserved + 3 * kLayer) + 1000;
  const auto tight = estimate_plan(small_study(), o).rows[0];
  EXPECT_EQ(tight.n_passes, 1);
  EXPECT_DOUBLE_EQ(tight.peak_rank_bytes, kReserved + 3 * kLayer);
}

TEST(PlanEstimateTest, FewerCheckpointsThanRanksShareTheRows) {
  auto o = small_options();
  o.n_ranks = 4;
  const auto e = estimate_plan(small_study(), o);
  EXPECT_TRUE(e.teams);
  EXPECT_DOUBLE_EQ(e.rows[0].table_bytes_per_layer, 2.0 * 112 * 88);  // 448 rows / 4 ranks
}

TEST(PlanEstimateTest, CountedRowsReplaceTheBound) {
  auto o = small_options();
  stages::LabelSummary labels;
  labels.n_documents = 10;
  labels.names = {"in1", "in2", "out1", "out2", "in1.null", "in2.null", "out1.null", "out2.null"};
  labels.rows = {30, 12, 30, 11, 30, 12, 30, 11};
  o.labels = {labels};
  const auto e = estimate_plan(small_study(), o);
  EXPECT_TRUE(e.rows[0].rows_counted);
  EXPECT_DOUBLE_EQ(e.rows[0].table_rows, 166);
  o.labels[0].n_documents = 11;  // another sample: not used
  EXPECT_FALSE(estimate_plan(small_study(), o).rows[0].rows_counted);
}

// With the label pass's row counts, a host rank's tables are what the run allocates: a
// row whose count cannot reach 16 positions (docs/ESTIMATOR.md, "Table cells") keeps
// 5-byte cells instead of 8 (one view here: the full sample); on the GPU every row is wide.
TEST(PlanEstimateTest, CountedRowsOnTheHostTakeTheCellsTheirCountsNeed) {
  auto m = small_study();
  m.estimator.bootstrap = 0;
  auto o = small_options();
  stages::LabelSummary labels;
  labels.n_documents = 10;
  labels.names = {"in1", "in2", "out1", "out2", "in1.null", "in2.null", "out1.null", "out2.null"};
  labels.rows = {30, 12, 30, 11, 30, 12, 30, 11};
  for (const auto rows : labels.rows) {
    std::vector<std::int64_t> counts;
    for (std::int64_t k = 0; k < rows; ++k) counts.push_back(k % 3 == 0 ? 40 : 3 + k % 13);  // 40: wide; 3..15: narrow
    labels.row_counts.push_back(counts);
  }
  o.labels = {labels};
  // Per set: counts (8 bytes a row), a 12-byte word per 64 rows, then the cells.
  const auto fixed = [](std::int64_t rows) { return static_cast<double>(8 * rows + 12 * ((rows + 63) / 64)); };
  double expected = 0;
  for (const auto rows : labels.rows) {
    const auto wide = (rows + 2) / 3;
    expected += fixed(rows) + static_cast<double>(wide * 8 * 10 + (rows - wide) * 5 * 10);
  }
  EXPECT_DOUBLE_EQ(estimate_plan(m, o).rows[0].table_bytes_per_layer, expected);
  m.compute.device = "cuda";
  m.storage.representations = false;
  double all_wide = 0;
  for (const auto rows : labels.rows) all_wide += fixed(rows) + static_cast<double>(rows * 8 * 10);
  EXPECT_DOUBLE_EQ(estimate_plan(m, o).rows[0].table_bytes_per_layer, all_wide);
}

TEST(PlanEstimateTest, UnigramLabelsAreBoundedByTheVocabulary) {
  auto o = small_options();
  o.n_documents = 1000;  // 17000 positions: 5666 labels could repeat 3 times, but only 257 tokens exist
  const auto e = estimate_plan(small_study(), o);
  EXPECT_DOUBLE_EQ(e.rows[0].table_rows, 4 * 257.0 + 4 * 5666.0);
}

TEST(PlanEstimateTest, WithoutPreferenceDataNoPairsAreCounted) {
  auto m = small_study();
  m.preference.reset();
  const auto e = estimate_plan(m, small_options());
  EXPECT_EQ(e.n_pairs, 0);
  EXPECT_DOUBLE_EQ(e.rows[0].tokens, 2 * 200.0);
}

TEST(PlanEstimateTest, PairsAndThroughputCanBeOverridden) {
  auto o = small_options();
  o.n_pairs = 0;
  o.throughput_tokens_per_s = 100;
  const auto e = estimate_plan(small_study(), o);
  EXPECT_DOUBLE_EQ(e.rows[0].tokens, 400);
  EXPECT_DOUBLE_EQ(e.rows[0].gpu_hours, 400.0 / 100 / 3600);
  // data.preference.n_pairs 0 means all: the default is then as many pairs as documents.
  auto m = small_study();
  m.preference->n_pairs = 0;
  EXPECT_EQ(estimate_plan(m, small_options()).n_pairs, 10);
}

TEST(PlanEstimateTest, AModelWithoutAConfigIsLeftOutAndSaidSo) {
  auto m = small_study();
  m.models[0].checkpoints[0].path = "/nonexistent/model";
  const auto e = estimate_plan(m, small_options());
  EXPECT_FALSE(e.from_configs);
  EXPECT_TRUE(e.rows.empty());
}

}  // namespace
}  // namespace ibzoo::pipeline
