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
  o.reduce_memory_bytes = 1000;
  return o;
}

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
  EXPECT_EQ(r.n_checkpoints, 2);
  EXPECT_EQ(r.n_layers, 2);
  EXPECT_EQ(r.n_layers_estimated, 3);  // 0..L
  EXPECT_EQ(r.hidden, 32);
  EXPECT_EQ(r.vocab, 257);
  // Per checkpoint: 10 x 20 text tokens + 5 pairs x 2 x 16 = 360; x 2 checkpoints.
  EXPECT_DOUBLE_EQ(r.tokens, 720);
  // Positions: 10 x 17 + 5 x 2 x 16 = 330 per checkpoint.
  EXPECT_DOUBLE_EQ(r.positions, 660);
  // 720 x (2 x 2e6 + 2 x 2 blocks x 20 x 32).
  EXPECT_DOUBLE_EQ(r.flops, 720.0 * 4002560.0);
  EXPECT_DOUBLE_EQ(r.gpu_hours, 720.0 / 1000.0 / 3600.0);
  EXPECT_DOUBLE_EQ(r.weight_bytes, 2e6 * 4 * 2);  // float32 in config.json, 2 checkpoints
  // state.h5 per position: text 3 x 10 x 4 + 8 x 4 + 8 = 160, preference 120 + 4 + 8 = 132.
  // Per checkpoint 170 x 160 + 160 x 132 = 48320.
  EXPECT_DOUBLE_EQ(r.state_bytes, 2 * 48320.0);
  EXPECT_DOUBLE_EQ(r.representation_bytes, 720.0 * 32 * 1 * 2);  // one layer, float16
  // Kept labels: min(floor(170 / 3), 257^order) = 56 for both orders.
  ASSERT_EQ(r.labels_per_order.size(), 2u);
  EXPECT_DOUBLE_EQ(r.labels_per_order[0], 56);
  EXPECT_DOUBLE_EQ(r.labels_per_order[1], 56);
  // Rows per layer: 2 (pref) + 2 orders x 2 (in, out) x 2 (null) x 56 = 450; x 2 views x (8 x 10 + 56).
  EXPECT_DOUBLE_EQ(r.reduce_table_bytes, 2.0 * 450 * 136);
  EXPECT_TRUE(r.reduce_partitioned);  // 48320 bytes of state > 1000, on 2 ranks
  // Half the tables + one item's layer: max(4 x 17 x (40 + 32 + 8), 4 pairs x 2 x 16 x (40 + 4 + 8)) = 6656.
  EXPECT_DOUBLE_EQ(r.reduce_peak_bytes, 122400.0 / 2 + 6656);
  // Weights 2e6 x 4 + activations 64 x 32 x 4 x 8 + 64 x 20 x 2 heads x 4
  // + one item's state max(68 x 160, 128 x 132) + labels 170 x (8 x 4 + 16) + 160 x (4 + 16).
  EXPECT_DOUBLE_EQ(r.extract_peak_bytes, 8e6 + (65536 + 10240) + 16896 + (8160 + 3200));
  EXPECT_DOUBLE_EQ(r.peak_rank_bytes, r.extract_peak_bytes);
  EXPECT_DOUBLE_EQ(e.total.tokens, r.tokens);
  EXPECT_EQ(e.total.model, "total");
}

TEST(PlanEstimateTest, OneRankOrASmallStateDoesNotPartitionTheReduce) {
  auto o = small_options();
  o.n_ranks = 1;
  EXPECT_FALSE(estimate_plan(small_study(), o).rows[0].reduce_partitioned);
  o.n_ranks = 4;
  o.reduce_memory_bytes = 48320;  // exactly the checkpoint's state: not over the budget
  const auto e = estimate_plan(small_study(), o);
  EXPECT_FALSE(e.rows[0].reduce_partitioned);
  EXPECT_DOUBLE_EQ(e.rows[0].reduce_peak_bytes, 122400.0 + 6656);
}

TEST(PlanEstimateTest, UnigramLabelsAreBoundedByTheVocabulary) {
  auto o = small_options();
  o.n_documents = 1000;  // 17000 positions: 5666 labels could repeat 3 times, but only 257 tokens exist
  const auto e = estimate_plan(small_study(), o);
  EXPECT_DOUBLE_EQ(e.rows[0].labels_per_order[0], 257);
  EXPECT_DOUBLE_EQ(e.rows[0].labels_per_order[1], 5666);
}

TEST(PlanEstimateTest, WithoutPreferenceDataNoPairsAreCounted) {
  auto m = small_study();
  m.preference.reset();
  const auto e = estimate_plan(m, small_options());
  EXPECT_EQ(e.n_pairs, 0);
  EXPECT_DOUBLE_EQ(e.rows[0].tokens, 2 * 200.0);
  EXPECT_DOUBLE_EQ(e.rows[0].state_bytes, 2 * 170.0 * 160);
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
