// Regress stage: joins model-level compression metrics with benchmark scores and
// writes the cross-family statistics. Runs after the metrics table is complete and
// before the report; not collective (rank 0 calls it).
#pragma once

#include "scores/benchmarks.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <utility>
#include <string>
#include <vector>

namespace ibzoo::stages {

// The analysis defaults: the manifest's analysis: section (pipeline/manifest.h,
// AnalysisSpec), `ibzoo regress` and RegressJob all start from these.
inline const std::vector<std::string> kDefaultPredictors = {"optimality", "complexity", "expressivity"};
inline const std::vector<std::string> kDefaultControls = {"log_params"};
inline constexpr const char* kDefaultCv = "leave-one-family-out";
inline constexpr std::size_t kDefaultBootstrap = 1000;
inline constexpr std::uint64_t kDefaultSeed = 0;

struct RegressJob {
  std::filesystem::path path_metrics;                  // tidy metrics.csv
  std::vector<std::filesystem::path> paths_benchmarks; // lm-eval .json, leaderboard .csv, long .csv
  std::filesystem::path path_out;                      // directory for the outputs
  // Subset of optimality, complexity, expressivity, preference.
  std::vector<std::string> predictors = kDefaultPredictors;
  // Subset of log_params, family (empty: no partial correlations).
  std::vector<std::string> controls = kDefaultControls;
  std::string cv = kDefaultCv;                          // or "none"
  std::size_t n_bootstrap = kDefaultBootstrap;          // 0: Fisher-z intervals instead
  std::uint64_t seed = kDefaultSeed;
  std::string checkpoint;                              // "" = each model's final (largest-step) checkpoint
  double ridge_lambda = 1.0;
  scores::BenchmarkOptions benchmark_options;              // for every file of paths_benchmarks
  bool ignore_unknown_models = false;
  // Added with issue 18.
  // Files with their own options (a manifest's benchmark entries), read after paths_benchmarks.
  std::vector<std::pair<std::filesystem::path, scores::BenchmarkOptions>> benchmark_entries;
  std::map<std::string, std::string> aliases;          // name in a score file -> model id
  // false: one observation per model, its final checkpoint (or `checkpoint`);
  // true: every (model, checkpoint) of the metrics is an observation (scores join per checkpoint).
  bool every_checkpoint = false;
  // true: every_checkpoint when some model has several checkpoints in the metrics and
  // some score names a checkpoint (`ibzoo run` sets it; `checkpoint` non-empty disables it).
  bool every_checkpoint_if_scored = false;
  bool operator==(const RegressJob&) const = default;
};

// One row of correlations.csv.
struct CorrelationRow {
  std::string predictor;
  std::string target;
  std::string method;  // pearson, spearman, partial_pearson, partial_spearman
  std::size_t n = 0;
  double r = 0.0;
  double p = 0.0;
  double ci_low = 0.0;
  double ci_high = 0.0;
};

// One row of regression.csv: a model spec fitted to one target, cross-validated.
struct RegressionRow {
  std::string target;
  std::string spec;       // "+"-joined features, or "intercept_only"
  std::string estimator;  // ols or ridge
  double lambda = 0.0;
  std::size_t n = 0;      // models with complete data for this spec and target
  std::size_t n_features = 0;
  std::size_t n_folds = 0;
  double r2_cv = 0.0;
  double mae_cv = 0.0;
  double r2_train = 0.0;
};

struct FoldRow {
  std::string target;
  std::string spec;
  std::string estimator;
  std::string held_out_family;
  std::size_t n_train = 0;
  std::size_t n_test = 0;
  double mae = 0.0;
  double sse = 0.0;
};

// One model's row of model_table.csv (inputs to every statistic).
struct ModelRow {
  std::string model;
  std::string family;
  std::string checkpoint;
  std::int64_t step = 0;
  double n_parameters = 0.0;               // NaN if absent
  std::map<std::string, double> features;  // predictor name -> value (NaN if absent)
  std::map<std::string, double> targets;   // benchmark (and "aggregate") -> score (NaN if absent)
};

struct RegressResult {
  std::vector<ModelRow> models;
  std::vector<std::string> targets;  // benchmarks (sorted), then "aggregate"
  std::vector<CorrelationRow> correlations;
  std::vector<RegressionRow> regression;
  std::vector<FoldRow> folds;
  std::vector<std::string> models_without_scores;
  scores::BenchmarkTable scores;                      // the join, as written to scores.csv
};

inline const std::vector<std::string> kCorrelationsHeader = {"predictor", "target", "method", "n",
                                                             "r",         "p",      "ci_low", "ci_high"};

// Reads the metrics and benchmark files, computes every statistic and writes
//   <path_out>/correlations.csv     predictor,target,method,n,r,p,ci_low,ci_high
//   <path_out>/regression.csv       target,spec,estimator,lambda,n,n_features,n_folds,r2_cv,mae_cv,r2_train
//   <path_out>/regression_folds.csv target,spec,estimator,held_out_family,n_train,n_test,mae,sse
//   <path_out>/model_table.csv      model,family,checkpoint,step,n_parameters,<predictors>,<targets>
//   <path_out>/scores.csv           every score read, with its metric, aggregation, normalisation,
//                                   source and what the join did with it (scores::write_scores_csv)
// each atomically. One row of model_table.csv per observation: each model's final
// checkpoint, or with every_checkpoint each (model, checkpoint); the log says which. Deterministic for a given seed. Throws UsageError (unknown
// predictor, control or cv), MissingInputError, CorruptDataError (bad files, benchmark
// models missing from the metrics), WriteError. Not collective.
RegressResult regress(const RegressJob& job);

}  // namespace ibzoo::stages
