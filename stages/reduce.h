// Reduce: merges the estimator states of every item of one (model, checkpoint)
// exactly, layer by layer in item order, and turns them into metric rows
// (per layer and the mean over layers 1..L). Memory: one layer's merged state.
// Not collective; the pipeline spreads groups over ranks.
// Throws CorruptDataError naming the item file when a state is unreadable.
#pragma once

#include "io/metrics_csv.h"
#include "io/run_dir.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ibzoo::stages {

struct ReduceJob {
  io::RunDir run;
  std::string model;
  std::string family;
  std::string checkpoint;
  std::int64_t step = 0;
  std::vector<std::string> item_ids;   // in plan order: the merge order
  std::string weighting = "frequency";
  double n_parameters = 0;             // 0: take it from the items' provenance
};

struct GroupSummary {
  std::string model, family, checkpoint;
  std::int64_t step = 0;
  double n_parameters = 0;
  std::int64_t n_positions = 0;
  double entropy = 0, complexity = 0, expressivity = 0;
  double optimality = 0, optimality_ratio_of_means = 0;
  double complexity_null = 0, expressivity_null = 0;
  nlohmann::json weights;              // file -> sha256, from provenance
};

struct ReduceResult {
  std::vector<io::MetricRow> rows;
  GroupSummary summary;
};

ReduceResult reduce(const ReduceJob& job);

// results/summary.csv: one row per (model, checkpoint) with the headline measures.
void write_summary_csv(const std::filesystem::path& path, const std::vector<GroupSummary>& summaries);

}  // namespace ibzoo::stages
