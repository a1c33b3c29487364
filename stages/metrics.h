// Metrics: one checkpoint's exact sums (its item's state.h5, written by accumulate)
// -> per-layer estimates -> metric rows (per layer, and the mean over layers 1..L)
// and the checkpoint's summary line. Pure functions of the sums and the settings:
// a rerun rewrites byte-identical results without running a model.
// Throws CorruptDataError naming the file when a state is unreadable.
#pragma once

#include "analysis/estimator_state.h"
#include "io/metrics_csv.h"
#include "io/run_dir.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace ibzoo::stages {

struct CheckpointInfo {
  std::string model;
  std::string family;
  std::string checkpoint;
  std::int64_t step = 0;
  double n_parameters = 0;             // 0: take it from the item's provenance
};

struct GroupSummary {
  std::string model, family, checkpoint;
  std::int64_t step = 0;
  double n_parameters = 0;
  std::int64_t n_positions = 0;
  double entropy = 0, complexity = 0, expressivity = 0;
  double optimality = 0, optimality_ratio_of_means = 0;
  double complexity_null = 0, expressivity_null = 0;
  double preference = 0;               // mean over layers 1..L of I(Z; pref); NaN without preference data
  double eval_loss = std::numeric_limits<double>::quiet_NaN();  // the checkpoint's held-out loss (trainer_state.json)
  nlohmann::json weights;              // file -> sha256, from provenance
};

struct CheckpointMetrics {
  std::vector<io::MetricRow> rows;
  GroupSummary summary;
};

// One layer's estimates, as the metrics are built from them.
struct LayerResult {
  int layer = 0;
  analysis::LayerEstimate estimate;
};

// The rows and summary of one checkpoint from its text layers (and, when the study
// has preference data, its preference layers, the same layers in the same order).
CheckpointMetrics checkpoint_metrics(const CheckpointInfo& info, const std::vector<LayerResult>& text,
                                     const std::vector<LayerResult>& preference);

// The same from the item's files: items/<id>/state.h5 and provenance.json (with the
// checkpoint's training record there: model-scope rows eval_loss and train_loss).
CheckpointMetrics item_metrics(const io::RunDir& run, const std::string& item_id, const CheckpointInfo& info,
                               analysis::Weighting weighting, double confidence = 0.95);

// results/summary.csv: one row per (model, checkpoint) with the headline measures.
void write_summary_csv(const std::filesystem::path& path, const std::vector<GroupSummary>& summaries);

}  // namespace ibzoo::stages
